"""Security headers on every response, the size of request bodies, and the CSRF token.

The CSP allows scripts, styles, fonts and images from the portal's own origin only, with no
inline script or style attribute, so an injected tag cannot run. Pages are never cached (they hold
constituents' data); assets may be.

Request bodies are counted as they arrive, before anything parses them (`BodyLimitMiddleware`):
a body over its route's limit is answered 413 and not read further, so neither memory nor the
temporary folder (where multipart parsing spools files) fills, whether the length was declared or
the body came chunked. A route that takes a file (`takes_upload`) allows `upload_max_bytes` to a
signed-in request; every other body, and any anonymous one, is a form or a JSON call and is
allowed `FORM_MAX_BYTES`. (Starlette's `RequestBodyLimitMiddleware` counts the same way, but
answers a declared over-long body with its own plain-text response, past the app's error pages
and security headers, and fixes each route's limit when the route is declared, before the
configured attachment size is known.)
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_extensions.config import PortalSettings

CSRF_SESSION_KEY = "csrf"
CSRF_FORM_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SORRY = b"Sorry, there is a problem with Caseload. Try again later."

#: The largest body of any request but a file upload. Every form and JSON call fits: the longest
#: field, an enquiry's 40,000-character description, is under 500 KB even percent-encoded.
FORM_MAX_BYTES = 1024 * 1024
#: What a file upload carries beside the file: its note (up to 40,000 characters) and the
#: multipart headers.
UPLOAD_OVERHEAD_BYTES = 256 * 1024


UPLOAD_ATTRIBUTE = "__caseload_upload__"
F = TypeVar("F", bound=Callable[..., Any])


def upload_max_bytes(settings: PortalSettings) -> int:
    """The largest body of a request that uploads a file (the configured attachment size)."""
    return settings.attachment_max_bytes + UPLOAD_OVERHEAD_BYTES


def takes_upload(endpoint: F) -> F:
    """Declare a route that takes a file: a signed-in request's body may be `upload_max_bytes`."""
    setattr(endpoint, UPLOAD_ATTRIBUTE, True)
    return endpoint


class BodyTooLarge(HTTPException):
    """A request body over its route's limit, refused before more of it was read."""

    def __init__(self, upload: bool) -> None:
        super().__init__(413, "Content too large")
        self.upload = upload


def body_limit(settings: PortalSettings, scope: Scope, signed_in: bool) -> tuple[int, bool]:
    """The most this request may send, and whether that is an upload's limit. Known once
    routing has found the endpoint (`scope["endpoint"]`), which is before the body is read."""
    if signed_in and getattr(scope.get("endpoint"), UPLOAD_ATTRIBUTE, False) is True:
        return upload_max_bytes(settings), True
    return FORM_MAX_BYTES, False


def declared_length(scope: Scope) -> int:
    value = Headers(scope=scope).get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else 0


class BodyLimitMiddleware:
    """Counts each request body as the app receives it and raises `BodyTooLarge` (answered by
    the app's error page) before reading past the route's limit: at once when the declared
    Content-Length is over it. `signed_in(scope)` says whether the request carries a
    signed-in session; the session middleware runs outside this one."""

    def __init__(
        self, app: ASGIApp, settings: PortalSettings, signed_in: Callable[[Scope], bool]
    ) -> None:
        self.app = app
        self.settings = settings
        self.signed_in = signed_in

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            limit, upload = body_limit(self.settings, scope, self.signed_in(scope))
            if max(declared, received) > limit:
                raise BodyTooLarge(upload)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(upload)
            return message

        await self.app(scope, limited_receive, send)


def content_security_policy(settings: PortalSettings) -> str:
    ancestors = " ".join(settings.frame_ancestors) if settings.frame_ancestors else "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def security_headers(settings: PortalSettings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }
    if not settings.frame_ancestors:
        headers["X-Frame-Options"] = "DENY"  # for browsers that predate frame-ancestors
    if settings.https:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp, settings: PortalSettings) -> None:
        self.app = app
        self.headers = security_headers(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_asset = str(scope.get("path", "")).startswith("/assets/")
        is_head = scope.get("method") == "HEAD"
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if is_head and message["type"] == "http.response.body" and message.get("body"):
                message = {**message, "body": b""}  # HEAD: the GET's headers without its body
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers[name] = value
                if not is_asset:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's own error page is sent outside this middleware, without the headers;
            # answer here instead, then let the error reach the server's log.
            if not started:
                await send_with_headers(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                    }
                )
                await send_with_headers({"type": "http.response.body", "body": _SORRY})
            raise


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def csrf_matches(session: MutableMapping[str, Any], presented: str | None) -> bool:
    expected = session.get(CSRF_SESSION_KEY)
    if not isinstance(expected, str) or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
