"""Dataverse sign-in: a client-credentials bearer token from the Microsoft identity platform.

MSAL for Python (`msal`, Microsoft's maintained client) makes the token request: the v2.0
endpoint needs `scope=<resource>/.default`, which is derived from the Dataverse URL unless the
council configures it. MSAL talks through the connector's guarded session (the host allowlist
and timeouts apply) and never to Microsoft's instance-discovery service.

The token is shared by every thread of the process and fetched again shortly before it expires;
after a 401 it is renewed once (`generation` stops a crowd of workers each fetching one). A 429
or 5xx from the identity platform is a retryable `CRMUnavailable` (with its Retry-After); a
refusal is a `CRMAuthError` that keeps the identity platform's reason (`AADSTS7000215: Invalid
client secret provided.`), never the body or the secret.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import msal
import msal.exceptions
import requests

from connector.dataverse.odata import KIND
from connector.errors import CRMAuthError, CRMContractError, CRMError, CRMUnavailable
from connector.resilience import error_for_status, map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedSession

#: The identity platform v2.0 token endpoint: `https://<host>/<tenant>/oauth2/v2.0/token`.
_V2_TOKEN_URL = re.compile(r"^(https?://[^/]+/[^/]+)/oauth2/v2\.0/token/?$")
_AADSTS = re.compile(r"AADSTS\d+:[^\r\n]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def authority_of(token_url: str) -> str:
    """The MSAL authority (`https://<host>/<tenant>`) of a v2.0 token endpoint URL (always
    https: see `_RecordingClient` for the loopback http the sandbox serves)."""
    match = _V2_TOKEN_URL.match(token_url)
    if match is None:
        raise CRMAuthError(
            f"crm.token_url {token_url!r} is not a Microsoft identity platform v2.0 token endpoint",
            crm=KIND,
            operation="token",
            advice="Use https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token.",
        )
    return "https://" + match.group(1).split("://", 1)[1]


def default_scope(settings: CRMSettings) -> str:
    """`<Dataverse origin>/.default`, or the configured scope if it is a `.default` scope."""
    if settings.scope:
        if not settings.scope.rstrip().endswith("/.default"):
            raise CRMAuthError(
                f"crm.scope {settings.scope!r} is not a `.default` scope",
                crm=KIND,
                operation="token",
                advice="Client credentials need https://<org>.crm.dynamics.com/.default.",
            )
        return settings.scope.strip()
    parts = urlsplit(settings.endpoint)
    return f"{parts.scheme}://{parts.netloc}/.default"


def aadsts_reason(result: dict[str, Any]) -> str:
    """The identity platform's reason for a refusal, one line, without control characters."""
    description = str(result.get("error_description") or "")
    match = _AADSTS.search(description)
    reason = match.group(0) if match else str(result.get("error") or "refused")
    return _CONTROL.sub(" ", reason).strip()[:300]


class _RecordingClient:
    """The HTTP client MSAL uses: the guarded session, remembering the last answer.

    MSAL accepts only https authorities. The sandbox and tests serve the identity endpoint over
    plain http on loopback (the only place the host allowlist lets http go): for such a token
    URL (`plain_host`), MSAL is given the https form, and this client sends it as http and
    shows MSAL the discovery document's URLs in the https form.
    """

    def __init__(self, session: GuardedSession, plain_host: str | None = None) -> None:
        self.session = session
        self.plain_host = plain_host
        self.last: requests.Response | None = None

    def _wire(self, url: str) -> str:
        if self.plain_host and url.startswith(f"https://{self.plain_host}/"):
            return "http://" + url.removeprefix("https://")
        return url

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        self.last = self.session.post(self._wire(url), **kwargs)
        return self.last

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        self.last = self.session.get(self._wire(url), **kwargs)
        if self.plain_host and url.endswith("/.well-known/openid-configuration"):
            plain, secure = f"http://{self.plain_host}/", f"https://{self.plain_host}/"
            self.last._content = self.last.content.replace(plain.encode(), secure.encode())
        return self.last

    def close(self) -> None:
        """The session belongs to the connector, which closes it."""


class OAuthToken:
    """Client-credentials bearer token, cached and shared by every thread."""

    def __init__(self, settings: CRMSettings, session: GuardedSession) -> None:
        self.settings = settings
        token_url = urlsplit(settings.token_url or "")
        self.http = _RecordingClient(
            session, token_url.netloc if token_url.scheme == "http" else None
        )
        self._app: msal.ConfidentialClientApplication | None = None
        # MSAL remembers a 429/5xx for its Retry-After and answers later calls from memory;
        # the connector's retry policy decides instead, so this memory is emptied per fetch.
        self._http_cache: dict[Any, Any] = {}
        self._token: str | None = None
        self._expires = 0.0
        self.generation = 0
        self.fetches = 0
        self._lock = threading.Lock()

    def header(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - 60:
                self._token, lifetime = self._fetch()
                self._expires = time.monotonic() + lifetime
                self.generation += 1
            return f"Bearer {self._token}"

    def renew(self, seen_generation: int) -> None:
        with self._lock:
            if self.generation == seen_generation:
                self._token = None
                if self._app is not None:
                    self._app.remove_tokens_for_client()  # MSAL would hand the same one back

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            secret = self.settings.secret("client_secret")
            if not (self.settings.token_url and self.settings.client_id and secret):
                raise CRMAuthError(
                    "crm.token_url, crm.client_id and the client secret are required",
                    crm=KIND,
                    operation="token",
                )
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id,
                client_credential=secret,
                authority=authority_of(self.settings.token_url),
                http_client=self.http,
                http_cache=self._http_cache,
                instance_discovery=False,
                validate_authority=False,
            )
        return self._app

    def _fetch(self) -> tuple[str, float]:
        self.fetches += 1
        scope = default_scope(self.settings)
        self._http_cache.clear()
        self.http.last = None
        try:
            result = self._application().acquire_token_for_client(scopes=[scope])
        except requests.RequestException as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status is not None:
                raise self._status_error(status) from None
            raise map_transport_error(exc, crm=KIND, operation="token") from None
        except (ValueError, RuntimeError, msal.exceptions.MsalServiceError):
            # MSAL: discovery failed (a RuntimeError for an answer that is neither 200 nor 4xx),
            # a 5xx (raised, not returned), or an answer that is not JSON
            if self.http.last is not None and self.http.last.status_code != 200:
                raise self._status_error(self.http.last.status_code) from None
            raise CRMContractError(
                "the identity provider's answer is not an OAuth2 answer",
                crm=KIND,
                operation="token",
            ) from None
        except (TypeError, KeyError, AttributeError):
            # An answer MSAL cannot digest (such as an `error` that is not text) can leave its
            # state broken: start afresh next time, and say what happened.
            self._app = None
            raise CRMContractError(
                "the identity provider's answer is not an OAuth2 answer",
                crm=KIND,
                operation="token",
            ) from None
        if not isinstance(result, dict):
            raise CRMContractError("no token answer", crm=KIND, operation="token")
        token = result.get("access_token")
        if token:
            try:
                return str(token), float(result.get("expires_in", 3600))
            except (TypeError, ValueError):
                return str(token), 3600.0
        status = self.http.last.status_code if self.http.last is not None else 400
        transient = self._transient(status)
        if transient is not None:
            raise transient
        raise CRMAuthError(
            f"the identity provider refused the client credentials: {aadsts_reason(result)}",
            crm=KIND,
            operation="token",
            status=status,
            advice="Check crm.client_id, the client secret and the app's access to Dataverse.",
        )

    def _transient(self, status: int) -> CRMError | None:
        headers = self.http.last.headers if self.http.last is not None else {}
        return error_for_status(
            status,
            crm=KIND,
            operation="token",
            retry_after=headers.get("Retry-After"),
            request_id=headers.get("x-ms-request-id"),
        )

    def _status_error(self, status: int) -> CRMError:
        transient = self._transient(status)
        if transient is not None:
            return transient
        if status >= 500:
            return CRMUnavailable(
                f"the identity provider answered HTTP {status}",
                crm=KIND,
                operation="token",
                status=status,
            )
        return CRMAuthError(
            f"the identity provider answered HTTP {status}",
            crm=KIND,
            operation="token",
            status=status,
        )


__all__ = ["OAuthToken", "aadsts_reason", "authority_of", "default_scope"]
