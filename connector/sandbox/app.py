"""The sandbox application: one `handle()` shared by the real HTTP server and the in-process router.

`handle(method, path, query, headers, body)` returns a `Response`. Socket-level faults (reset,
black hole, slow drip, lost response) cannot be expressed as HTTP, so the response carries an
`action` that each front carries out in its own way: the real server really resets or stalls the
connection; the in-process router raises the `requests` exception a client would see.
"""

from __future__ import annotations

import base64
import email.utils
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from connector.sandbox.faults import Decision, FaultPlan
from connector.sandbox.store import Store

AuthStyle = Literal["any", "wsse", "token", "basic"]
AUTH_STYLES: tuple[AuthStyle, ...] = ("wsse", "token", "basic")
MAX_BODY = 10 * 1024 * 1024
#: Results per FL search, whatever ResultsLimit asks: FL servers cap answers (configured in
#: services.properties); 100 is well below the connector's page size, as real caps often are.
DEFAULT_SEARCH_CAP = 100


class AuthConfig(BaseModel):
    """Who may call the sandbox and how.

    `style` picks what FL calls must carry: `wsse` (WS-Security UsernameToken, PasswordText),
    `token` (the BinarySecurityToken returned by FLAuth `authenticate`), `basic` (HTTP Basic),
    or `any` of them. The REST front always wants an OAuth2 bearer from the token endpoint.
    """

    model_config = ConfigDict(frozen=True)

    style: AuthStyle = "any"
    username: str = "caseload"
    password: str = "sandbox-password"
    token_ttl_seconds: float = Field(default=3600.0, gt=0)
    client_id: str = "caseload-portal"
    client_secret: str = "sandbox-client-secret"
    tenant: str = "sandbox"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    #: None, or one of "reset", "blackhole", "drip", "lose_response" (see module docstring).
    action: str | None = None
    drip_bps: int = 64


@dataclass
class Session:
    token: str
    user_id: str
    expires: float
    kind: str
    calls: int = 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    decision: Decision | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class AuthError(Exception):
    """Credentials missing, wrong or expired; `code` 1001 (failed) or 1002 (expired/invalid)."""

    def __init__(self, message: str, code: int = 1001) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class LaganOptions:
    """How the Lagan FL front behaves (`caseload sandbox --fl-build/--fl-unknown/--search-cap`).

    `build`: "published" serves the published WSDL; "later" a later build whose FWTCaseSearch
    adds LastModifiedDateFrom/To. `unknown`: "refuse" answers a request element the build lacks
    as Apache Axis does (HTTP 500, Server.userException "Invalid element in ..."); "ignore"
    drops it silently, as other SOAP stacks do. `search_cap`: the most results one search
    returns, whatever ResultsLimit asks (FL's services.properties maximum).
    """

    build: Literal["published", "later"] = "published"
    unknown: Literal["refuse", "ignore"] = "refuse"
    search_cap: int = DEFAULT_SEARCH_CAP


class SandboxApp:
    """Routes requests to the SOAP or REST front, applying auth and injected faults."""

    def __init__(
        self,
        store: Store,
        auth: AuthConfig | None = None,
        faults: FaultPlan | None = None,
        base_url: str | None = None,
        lagan: LaganOptions | None = None,
    ) -> None:
        self.store = store
        self.auth = auth or AuthConfig()
        self.faults = faults or FaultPlan()
        self.base_url = base_url
        self.lagan = lagan or LaganOptions()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self.request_count = 0

    # ------------------------------------------------------------------ auth
    def check_basic(self, header: str | None) -> str | None:
        """The user id from a valid HTTP Basic header, None when absent; AuthError if wrong."""
        if not header or not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise AuthError("HTTP Basic credentials are not valid base64") from None
        return self.check_password(user, password)

    def check_password(self, user: str, password: str) -> str:
        ok_user = hmac.compare_digest(user.encode(), self.auth.username.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.auth.password.encode())
        if not (ok_user and ok_pass):
            raise AuthError("user name or password not recognised")
        return user

    def issue_token(self, user_id: str, kind: str) -> Session:
        token = base64.b64encode(secrets.token_bytes(24)).decode()
        session = Session(token, user_id, time.monotonic() + self.auth.token_ttl_seconds, kind)
        with self._lock:
            self._sessions[token] = session
        return session

    def use_token(self, token: str, kind: str, decision: Decision | None) -> Session:
        """Validate a session token and count the call (for `session_expiry=N` faults)."""
        with self._lock:
            session = self._sessions.get(token)
            if session is None or session.kind != kind:
                raise AuthError("session token not recognised; authenticate again", 1002)
            if time.monotonic() >= session.expires:
                del self._sessions[token]
                raise AuthError("session token expired; authenticate again", 1002)
            limit = decision.session_expiry if decision else None
            if limit is not None and session.calls >= limit:
                del self._sessions[token]
                if decision is not None:
                    self.faults.record(
                        decision.operation, decision.call, "session_expiry", f"after {limit} calls"
                    )
                raise AuthError("session expired; authenticate again", 1002)
            session.calls += 1
            return session

    def expire_sessions(self) -> None:
        """Drop every session token (tests use it to force re-authentication)."""
        with self._lock:
            self._sessions.clear()

    # --------------------------------------------------------------- routing
    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> Response:
        """Answer one HTTP request. Never raises: every failure is an HTTP or SOAP fault."""
        from connector.sandbox import rest, soap

        with self._lock:
            self.request_count += 1
        request = Request(
            method.upper(),
            path,
            {k: list(v) for k, v in query.items()},
            {k.lower(): v for k, v in headers.items()},
            body,
        )
        if len(body) > MAX_BODY:
            return text_response(413, "request body larger than the sandbox's 10 MB limit")
        try:
            if path.rstrip("/").startswith("/lagan/services/"):
                return soap.handle(self, request)
            if (
                path.startswith("/api/data/v9.2")
                or "/oauth2/" in path
                or path.endswith("/.well-known/openid-configuration")
            ):
                return rest.handle(self, request)
            if path in ("/", "/health"):
                return json_response(200, {"status": "ok", "counts": self.store.counts()})
            return text_response(404, f"no sandbox endpoint at {path}")
        except Exception:  # pragma: no cover - last resort: never leak a stack trace
            import logging

            logging.getLogger("caseload.sandbox").exception("sandbox handler failed")
            return text_response(500, "internal sandbox error (logged on the server)")

    @staticmethod
    def pre_fault(decision: Decision) -> Response | None:
        """Sleep the injected latency; answer a reset or black hole before any handler runs.

        HTTP-level faults (5xx, 429, SOAP fault) are built by each front in its own error
        format; lost responses and slow drips happen after the handler (`post_fault`).
        """
        if decision.delay > 0:
            time.sleep(decision.delay)
        if decision.fault in ("reset", "blackhole"):
            return Response(0, {}, b"", action=decision.fault)
        return None

    @staticmethod
    def retry_after_value(decision: Decision) -> str:
        if decision.retry_after_form == "date":
            return email.utils.formatdate(time.time() + decision.retry_after, usegmt=True)
        return str(decision.retry_after)

    @staticmethod
    def post_fault(decision: Decision | None, response: Response) -> Response:
        """Faults applied after the handler committed: lose the response, or drip it."""
        if decision is None:
            return response
        if decision.fault == "lose_response":
            response.action = "lose_response"
        elif decision.fault == "drip":
            response.action = "drip"
            response.drip_bps = decision.drip_bps
        return response


def text_response(status: int, text: str) -> Response:
    return Response(status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode())


def json_response(status: int, data: object, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"Content-Type": "application/json; odata.metadata=minimal", "OData-Version": "4.0"}
    hdrs.update(headers or {})
    return Response(status, hdrs, json.dumps(data).encode())
