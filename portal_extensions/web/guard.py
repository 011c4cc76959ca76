"""Who may use each route, and the guard that checks it before every route runs.

Every route declares the page it belongs to (`allow(Page.X)`: who may open it is
`access.PAGE_ROLES`, the table the navigation reads too) or that it is `public`. One
dependency, run before each route, resolves the signed-in viewer, checks the CSRF token on every
unsafe method and applies that declaration. A route without a declaration is refused, so a
forgotten check fails closed. Case-level decisions are the access policy's
(`portal_extensions.access`); a case the viewer may not see is answered exactly like a page that
does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from starlette.routing import BaseRoute

from portal_extensions.access import PAGE_ROLES, Action, Page, Role
from portal_extensions.config import SignInMode
from portal_extensions.store.accounts import Account
from portal_extensions.web.deps import Portal, portal_of
from portal_extensions.web.refusals import Refused, SignInRequired
from portal_extensions.web.security import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    BodyTooLarge,
    body_limit,
    csrf_matches,
    csrf_token,
    declared_length,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "caseload_session"
SESSION_USER = "uid"
SESSION_ID = "sid"
API_PREFIX = "/api/v1"

# --------------------------------------------------------------------------------------------
# Route declarations


@dataclass(frozen=True, slots=True)
class RouteAccess:
    """Who may use a route: the viewers who may open `page` (`access.PAGE_ROLES`), or anyone
    when `public`. `case_param` names the path parameter holding a case id, if any; `action` is
    what the route does to that case (checked with `access.can_act`). A `sessionless` route
    (the load balancer's `/healthz`) is answered without reading or writing any session."""

    page: Page | None
    public: bool = False
    case_param: str | None = None
    action: Action | None = None
    sessionless: bool = False

    @property
    def roles(self) -> frozenset[Role]:
        return PAGE_ROLES[self.page] if self.page is not None else frozenset()


ACCESS_ATTRIBUTE = "__caseload_access__"
F = TypeVar("F", bound=Callable[..., Any])


def allow(
    page: Page, *, case_param: str | None = None, action: Action | None = None
) -> Callable[[F], F]:
    """Declare the page a route belongs to: whoever may open it may use the route (checked
    before the route runs)."""

    def declare(endpoint: F) -> F:
        access = RouteAccess(page, case_param=case_param, action=action)
        setattr(endpoint, ACCESS_ATTRIBUTE, access)
        return endpoint

    return declare


def public(endpoint: F) -> F:
    """Declare a route open to anyone (sign-in, assets). CSRF is still checked on unsafe methods."""
    setattr(endpoint, ACCESS_ATTRIBUTE, RouteAccess(None, public=True))
    return endpoint


def sessionless(endpoint: F) -> F:
    """Declare a safe (GET/HEAD) route open to anyone that reads no session and sets no cookie:
    a probe answered the same for everybody, even while the session store is unreachable."""
    setattr(endpoint, ACCESS_ATTRIBUTE, RouteAccess(None, public=True, sessionless=True))
    return endpoint


def route_access(endpoint: Callable[..., Any]) -> RouteAccess | None:
    access = getattr(endpoint, ACCESS_ATTRIBUTE, None)
    return access if isinstance(access, RouteAccess) else None


#: Marks a public route that authenticates by a signature of its body (the CRM's push events,
#: `web/routes/crm_events.py`): its caller has no session, so the guard asks it for no CSRF token.
SIGNED_ATTRIBUTE = "__caseload_signed__"


def is_signed(endpoint: object) -> bool:
    return getattr(endpoint, SIGNED_ATTRIBUTE, False) is True


def all_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route of an app, with included routers opened up (FastAPI keeps them nested)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        if nested is not None:
            yield from all_routes(nested.routes)
        else:
            yield route


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# --------------------------------------------------------------------------------------------
# Sessions


def _signed_in_account(request: Request, portal: Portal) -> Account | None:
    """The account behind this request: the SSO header (trusted mode) or the session."""
    settings = portal.settings
    session = request.session
    if settings.sign_in_mode is SignInMode.TRUSTED_HEADER:
        named = request.headers.get(settings.sso_header)
        client = request.client.host if request.client else None
        if named is None:
            return None
        if not settings.is_trusted_proxy(client):
            # The address names the client that tried (not a resident): what an operator needs
            # to find who sends sign-on headers around the proxy.
            log.warning(
                "ignored the %s header on a request from %s, which is not a trusted proxy",
                settings.sso_header,
                client or "an unknown address",
            )
            return None
        account = portal.accounts.by_username(named.strip())
        if account is None or not account.active:
            return None
        if session.get(SESSION_USER) != account.viewer.user_id:
            session.clear()  # a different person behind the proxy: nothing carries over
            session[SESSION_USER] = account.viewer.user_id
        return account
    user_id = session.get(SESSION_USER)
    session_id = session.get(SESSION_ID)
    if not isinstance(user_id, str) or not isinstance(session_id, str):
        return None
    if not portal.sessions.is_live(session_id, user_id):
        session.clear()  # signed out (perhaps elsewhere) or expired: the cookie is worthless
        return None
    account = portal.accounts.by_user_id(user_id)
    if account is None or not account.active:
        portal.sessions.revoke(session_id)
        session.clear()  # deactivated or removed: signed out at once
        return None
    return account


def start_session(request: Request, portal: Portal, user_id: str) -> None:
    """A fresh session for a user who has just proved who they are (no fixation)."""
    end_session(request, portal)
    request.session[SESSION_USER] = user_id
    request.session[SESSION_ID] = portal.sessions.issue(
        user_id, portal.settings.session_max_age_seconds
    )
    csrf_token(request.session)


def end_session(request: Request, portal: Portal) -> None:
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):
        portal.sessions.revoke(session_id)
    request.session.clear()


# --------------------------------------------------------------------------------------------
# The guard


async def guard(request: Request) -> None:
    """Runs before every route: who is this, is the CSRF token right, may they use the route."""
    endpoint = request.scope.get("endpoint")
    access = route_access(endpoint) if endpoint is not None else None
    if access is not None and access.sessionless and request.method in SAFE_METHODS:
        return  # a probe: no session is read, so none is written back
    portal = portal_of(request)
    account = _signed_in_account(request, portal)
    request.state.viewer = account.viewer if account else None
    request.state.account = account

    if request.method not in SAFE_METHODS:
        # A body declared over the limit is refused even where the route would not read it.
        limit, upload = body_limit(portal.settings, request.scope, account is not None)
        if declared_length(request.scope) > limit:
            raise BodyTooLarge(upload)
    # A route that authenticates by a signature of its body (CRM push events) has no session.
    if request.method not in SAFE_METHODS and not is_signed(endpoint):
        presented = request.headers.get(CSRF_HEADER)
        content_type = request.headers.get("content-type", "")
        if (
            presented is None
            and not is_api(request)
            and content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            )
        ):
            form = await request.form()
            value = form.get(CSRF_FORM_FIELD)
            presented = value if isinstance(value, str) else None
        if not csrf_matches(request.session, presented):
            raise Refused(
                403,
                "This form has expired",
                ["Nothing was saved. Go back, reload the page and try again."],
            )

    if access is None:
        log.error("route %s has no access declaration: refused", request.url.path)
        raise Refused(403, "You cannot use this page", ["Ask Members' Services for help."])
    if access.public:
        return
    viewer = request.state.viewer
    if viewer is None:
        raise SignInRequired
    if viewer.role not in access.roles:
        raise Refused(
            403,
            "You cannot use this page",
            [
                "Your account does not give access to this page. Ask Members' Services if you"
                " think it should."
            ],
        )


class _PageRouter(APIRouter):
    """Every page that answers GET answers HEAD alike, without the body (uptime monitors)."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        methods = options.get("methods")
        if methods is not None and "GET" in methods and "HEAD" not in methods:
            options["methods"] = [*methods, "HEAD"]
        super().add_api_route(path, endpoint, **options)


def page_router() -> APIRouter:
    """A router for HTML pages (left out of the OpenAPI document); a page that answers GET
    answers HEAD too."""
    # The guard is also app-wide; FastAPI caches it per request, so it runs once.
    return _PageRouter(include_in_schema=False, dependencies=[Depends(guard)])


def api_router() -> APIRouter:
    """A router for JSON endpoints, under `/api/v1` and described in the OpenAPI document."""
    return APIRouter(prefix=API_PREFIX, tags=["caseload"], dependencies=[Depends(guard)])


__all__ = [
    "API_PREFIX",
    "SESSION_COOKIE",
    "SIGNED_ATTRIBUTE",
    "RouteAccess",
    "all_routes",
    "allow",
    "api_router",
    "end_session",
    "guard",
    "is_api",
    "is_signed",
    "page_router",
    "public",
    "route_access",
    "sessionless",
    "start_session",
]
