"""Signing in and out, the home page's redirect, and the JSON API's session (who is signed in,
and the CSRF token to send with unsafe calls)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from portal_extensions.access import Page, Role, Viewer
from portal_extensions.config import SignInMode
from portal_extensions.store.audit import Outcome
from portal_extensions.web.auth import check_password, client_address
from portal_extensions.web.deps import AccountDep, MaybeViewerDep, Portal, PortalDep, ViewerDep
from portal_extensions.web.guard import (
    allow,
    api_router,
    end_session,
    page_router,
    public,
    start_session,
)
from portal_extensions.web.pages_common import render
from portal_extensions.web.security import csrf_token

page = page_router()
api = api_router()


MAX_USERNAME_LENGTH = 200
MAX_PASSWORD_LENGTH = 1000
MAX_NEXT_LENGTH = 2000


def safe_next(value: str | None) -> str:
    """Only a path on this site: never another host (an open redirect helps phishing).

    Browsers drop tabs and newlines and read a backslash as a slash, so `/\t/evil.example`
    would leave the site: any control character, space or backslash refuses the target.
    """
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@page.get("/")
@public
def home(viewer: MaybeViewerDep) -> Response:
    if viewer is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(
        "/health" if viewer.role is Role.ADMINISTRATOR else "/caseload", status_code=303
    )


def _sign_in_page(
    request: Request,
    portal: Portal,
    *,
    status_code: int = 200,
    username: str = "",
    next_path: str = "/",
    field_errors: dict[str, str] | None = None,
    throttled_message: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    field_errors = field_errors or {}
    errors = [{"text": text, "href": f"#{name}"} for name, text in field_errors.items()]
    if throttled_message:
        errors.append({"text": throttled_message, "href": "#username"})
    return render(
        request,
        "sign_in.html",
        {
            "sso_only": portal.settings.sign_in_mode is SignInMode.TRUSTED_HEADER,
            "values": {"username": username},
            "next_path": safe_next(next_path),
            "field_errors": field_errors,
            "throttled_message": throttled_message,
            "errors": errors,
        },
        status_code,
        headers,
    )


@page.get("/sign-in")
@public
def sign_in_form(
    request: Request, portal: PortalDep, viewer: MaybeViewerDep, next: str = "/"
) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, portal, next_path=next)


@page.post("/sign-in")
@public
def sign_in(
    request: Request,
    portal: PortalDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    if portal.settings.sign_in_mode is SignInMode.TRUSTED_HEADER:
        return _sign_in_page(request, portal, status_code=403)
    # Over-long answers get the form again with a message, never a dead-end page (the request
    # body itself is already capped by the body limit).
    username = username.strip()
    next = next if len(next) <= MAX_NEXT_LENGTH else "/"
    field_errors: dict[str, str] = {}
    if not username:
        field_errors["username"] = "Enter your user name"
    elif len(username) > MAX_USERNAME_LENGTH:
        field_errors["username"] = f"User name must be {MAX_USERNAME_LENGTH} characters or fewer"
        username = username[:MAX_USERNAME_LENGTH]
    if not password:
        field_errors["password"] = "Enter your password"  # noqa: S105 (a message)
    elif len(password) > MAX_PASSWORD_LENGTH:
        field_errors["password"] = f"Password must be {MAX_PASSWORD_LENGTH} characters or fewer"
    if field_errors:
        return _sign_in_page(
            request,
            portal,
            status_code=422,
            username=username,
            next_path=next,
            field_errors=field_errors,
        )
    address = client_address(request, portal.settings)
    wait = portal.throttle.retry_after(username, address)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        portal.record(
            request, "sign_in", Outcome.REFUSED, subject_type="session", actor="(throttled)"
        )
        return _sign_in_page(
            request,
            portal,
            status_code=429,
            username=username,
            next_path=next,
            throttled_message=(
                "There have been too many failed attempts to sign in. Wait"
                f" {minutes} minute{'s' if minutes != 1 else ''} and try again."
            ),
            headers={"Retry-After": str(int(wait) + 1)},
        )
    account = check_password(portal.accounts, username, password)
    if account is None:
        portal.throttle.failed(username, address)
        known = portal.accounts.by_username(username)
        portal.record(
            request,
            "sign_in",
            Outcome.REFUSED,
            subject_type="session",
            actor=known.viewer.user_id if known else "(unknown user name)",
        )
        return _sign_in_page(
            request,
            portal,
            status_code=401,
            username=username,
            next_path=next,
            field_errors={"password": "The user name or password is not right"},
        )
    portal.throttle.succeeded(username, address)
    # Nothing from before sign-in carries over.
    start_session(request, portal, account.viewer.user_id)
    portal.record(
        request, "sign_in", Outcome.ALLOWED, subject_type="session", actor=account.viewer.user_id
    )
    return RedirectResponse(safe_next(next), status_code=303)


def _sign_out(request: Request, portal: Portal, viewer: Viewer | None) -> None:
    """End the session (audited when somebody was signed in); the page and the API alike."""
    if viewer is not None:
        portal.record(request, "sign_out", Outcome.ALLOWED, subject_type="session")
    end_session(request, portal)


@page.post("/sign-out")
@public
def sign_out_page(request: Request, portal: PortalDep, viewer: MaybeViewerDep) -> Response:
    _sign_out(request, portal, viewer)
    return RedirectResponse("/sign-in", status_code=303)


class SessionOut(BaseModel):
    user_id: str
    display_name: str
    role: Role
    csrf_token: str


class SignedOut(BaseModel):
    signed_out: bool


@api.get("/session", response_model=SessionOut)
@allow(Page.SESSION)
def session(request: Request, viewer: ViewerDep, account: AccountDep) -> SessionOut:
    """Who is signed in, and the CSRF token to send with unsafe calls."""
    return SessionOut(
        user_id=viewer.user_id,
        display_name=account.display_name,
        role=viewer.role,
        csrf_token=csrf_token(request.session),
    )


@api.post("/sign-out", response_model=SignedOut)
@public
def sign_out(request: Request, portal: PortalDep, viewer: MaybeViewerDep) -> SignedOut:
    _sign_out(request, portal, viewer)
    return SignedOut(signed_out=True)


__all__ = ["api", "page", "safe_next"]
