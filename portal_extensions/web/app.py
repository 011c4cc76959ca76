"""The portal's web application: `create_app(settings, ...)`.

Every route declares who may use it (`allow(...)` or `public`); one dependency, run before each
route, resolves the signed-in viewer, checks the CSRF token on every unsafe method and applies
that declaration. A route without a declaration is refused, so a forgotten check fails closed.
Case-level decisions are the access policy's (`portal_extensions.access`); a case the viewer may
not see is answered exactly like a page that does not exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute

from portal_extensions.access import Action, Role, Viewer
from portal_extensions.casework.errors import ActionRefused, CaseNotFound
from portal_extensions.casework.ports import (
    Accounts,
    AttachmentSource,
    AuditTrail,
    CaseRepository,
    CaseWrites,
    DirectorySource,
    EnquiryOptions,
    HealthSource,
    PartySource,
    SessionRegistry,
)
from portal_extensions.config import PortalSettings, SignInMode
from portal_extensions.store.accounts import Account
from portal_extensions.store.audit import Outcome, PortalAuditEvent
from portal_extensions.web.assets import Asset, load_assets
from portal_extensions.web.auth import SignInThrottle
from portal_extensions.web.rendering import make_environment
from portal_extensions.web.security import (
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    SecurityHeadersMiddleware,
    csrf_matches,
    csrf_token,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "caseload_session"
SESSION_USER = "uid"
SESSION_ID = "sid"
CASE_ROLES = frozenset({Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER, Role.SERVICE_OFFICER})
ALL_ROLES = frozenset(Role)

# --------------------------------------------------------------------------------------------
# Route declarations


@dataclass(frozen=True, slots=True)
class RouteAccess:
    """Who may use a route. `case_param` names the path parameter holding a case id, if any;
    `action` is what the route does to that case (checked with `access.can_act`)."""

    roles: frozenset[Role]
    public: bool = False
    case_param: str | None = None
    action: Action | None = None


ACCESS_ATTRIBUTE = "__caseload_access__"
F = TypeVar("F", bound=Callable[..., Any])


def allow(
    *roles: Role, case_param: str | None = None, action: Action | None = None
) -> Callable[[F], F]:
    """Declare the roles that may use a route (checked before the route runs)."""

    def declare(endpoint: F) -> F:
        access = RouteAccess(frozenset(roles), case_param=case_param, action=action)
        setattr(endpoint, ACCESS_ATTRIBUTE, access)
        return endpoint

    return declare


def public(endpoint: F) -> F:
    """Declare a route open to anyone (sign-in, assets). CSRF is still checked on unsafe methods."""
    setattr(endpoint, ACCESS_ATTRIBUTE, RouteAccess(frozenset(), public=True))
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


# --------------------------------------------------------------------------------------------
# The portal's parts, shared by every request


@dataclass
class Portal:
    settings: PortalSettings
    accounts: Accounts
    cases: CaseRepository
    writes: CaseWrites
    enquiry_options: EnquiryOptions
    directory: DirectorySource
    audit: AuditTrail
    health: HealthSource
    clock: Callable[[], datetime]
    throttle: SignInThrottle
    assets: dict[str, Asset]
    templates: Environment
    sessions: SessionRegistry
    parties: PartySource | None = None  # the CRM's people, for the resident look-up
    attachments: AttachmentSource | None = None  # stored files' content, for downloads
    page_size: int = 50
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(
        self,
        request: Request,
        action: str,
        outcome: Outcome,
        *,
        subject_type: str,
        subject_id: str | None = None,
        on_behalf_of: str | None = None,
        actor: str | None = None,
    ) -> None:
        viewer = viewer_of(request)
        self.audit.record(
            PortalAuditEvent(
                at=self.clock(),
                actor=actor or (viewer.user_id if viewer else "anonymous"),
                action=action,
                subject_type=subject_type,
                subject_id=subject_id,
                outcome=outcome,
                on_behalf_of=on_behalf_of,
            )
        )


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def viewer_of(request: Request) -> Viewer | None:
    viewer = getattr(request.state, "viewer", None)
    return viewer if isinstance(viewer, Viewer) else None


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


# --------------------------------------------------------------------------------------------
# Refusals: raised by the guard and routes, answered by the handlers below


class SignInRequired(Exception):
    """Nobody is signed in (HTML: go to the sign-in page; API: 401)."""


class Refused(Exception):
    """Signed in, but this role may not use this route, or the CSRF token is wrong."""

    def __init__(self, status_code: int, heading: str, paragraphs: Sequence[str]) -> None:
        super().__init__(heading)
        self.status_code = status_code
        self.heading = heading
        self.paragraphs = list(paragraphs)


class NotFound(Exception):
    """No such page or case, or one the viewer may not see: the same answer for both."""


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


def start_session(request: Request, user_id: str) -> None:
    """A fresh session for a user who has just proved who they are (no fixation)."""
    portal = portal_of(request)
    end_session(request)
    request.session[SESSION_USER] = user_id
    request.session[SESSION_ID] = portal.sessions.issue(
        user_id, portal.settings.session_max_age_seconds
    )
    csrf_token(request.session)


def end_session(request: Request) -> None:
    session_id = request.session.get(SESSION_ID)
    if isinstance(session_id, str):
        portal_of(request).sessions.revoke(session_id)
    request.session.clear()


async def guard(request: Request) -> None:
    """Runs before every route: who is this, is the CSRF token right, may they use the route."""
    portal = portal_of(request)
    account = _signed_in_account(request, portal)
    request.state.viewer = account.viewer if account else None
    request.state.account = account

    # A route that authenticates by a signature of its body (CRM push events) has no session.
    if request.method not in SAFE_METHODS and not is_signed(request.scope.get("endpoint")):
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > portal.settings.attachment_max_bytes + 65_536:
            # Refused before the body is read: an upload larger than any file a case takes.
            raise Refused(
                413,
                "The file is too large",
                [
                    "Nothing was saved. Files must be smaller than"
                    f" {portal.settings.attachment_max_bytes // (1024 * 1024) or 1} MB."
                ],
            )
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

    endpoint = request.scope.get("endpoint")
    access = route_access(endpoint) if endpoint is not None else None
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


# --------------------------------------------------------------------------------------------
# Rendering


def navigation(request: Request) -> list[dict[str, Any]]:
    viewer = viewer_of(request)
    if viewer is None:
        return []
    items: list[tuple[str, str]] = []
    if viewer.role in CASE_ROLES:
        items.append(("My caseload" if viewer.role is Role.MEMBER else "Cases", "/caseload"))
    if viewer.role in (Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER):
        items.append(("Ward", "/ward"))
        items.append(("New enquiry", "/enquiries/new"))
    if viewer.role in CASE_ROLES:
        items.append(("Search", "/search"))
    items.append(("Directory", "/directory"))
    if viewer.role is Role.ADMINISTRATOR:
        items.append(("Health", "/health"))
    path = request.url.path
    return [{"text": text, "href": href, "current": path == href} for text, href in items]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    portal = portal_of(request)
    values: dict[str, Any] = {
        "council_name": portal.settings.council_name,
        "viewer": viewer_of(request),
        "csrf_token": csrf_token(request.session),
        "navigation": navigation(request),
        "errors": [],
    }
    values.update(context or {})
    body = portal.templates.get_template(template).render(values)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def message_page(
    request: Request, status_code: int, heading: str, paragraphs: Sequence[str]
) -> Response:
    if is_api(request):
        return JSONResponse({"error": heading, "detail": " ".join(paragraphs)}, status_code)
    return render(
        request, "message.html", {"heading": heading, "paragraphs": paragraphs}, status_code
    )


def not_found_response(request: Request) -> Response:
    return message_page(
        request,
        404,
        "Page not found",
        [
            "If you typed the web address, check it is correct. If you followed a link to a case,"
            " it may have been closed to you or removed."
        ],
    )


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, exc: SignInRequired) -> Response:
        if is_api(request):
            return JSONResponse({"error": "Sign in first"}, 401)
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse("/sign-in?" + _next_query(target), status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return message_page(request, exc.status_code, exc.heading, exc.paragraphs)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        return not_found_response(request)

    @app.exception_handler(CaseNotFound)
    async def case_not_found(request: Request, exc: CaseNotFound) -> Response:
        return not_found_response(request)  # missing and not visible answer alike

    @app.exception_handler(ActionRefused)
    async def action_refused(request: Request, exc: ActionRefused) -> Response:
        return message_page(request, 403, "You cannot change this case", [CANNOT_CHANGE])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return not_found_response(request)
        if exc.status_code == 405:
            return message_page(request, 405, "This page cannot do that", [])
        return message_page(request, exc.status_code, "Sorry, there is a problem", [])

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Detail of what failed may echo input; a person gets a plain page, a program the field.
        if is_api(request):
            fields = [".".join(str(p) for p in error["loc"]) for error in exc.errors()]
            return JSONResponse({"error": "Invalid request", "fields": fields}, 422)
        return message_page(
            request, 400, "There is a problem with that web address", ["Go back and try again."]
        )


CANNOT_CHANGE = (
    "You can read this case but not change it. Cases shared with you by a colleague can only be"
    " changed by them, their named cover or Members' Services; once the constituent withdraws"
    " their authority, a case can only be closed."
)


def _next_query(target: str) -> str:
    return urlencode({"next": target})


def create_app(
    settings: PortalSettings,
    *,
    accounts: Accounts,
    cases: CaseRepository,
    writes: CaseWrites,
    enquiry_options: EnquiryOptions,
    directory: DirectorySource,
    audit: AuditTrail,
    health: HealthSource,
    sessions: SessionRegistry,
    parties: PartySource | None,
    attachments: AttachmentSource | None,
    clock: Callable[[], datetime] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The portal's ASGI app over its parts (the store's and the connector's, put together by
    `runtime`). Every part is required: nothing falls back to memory. `parties` and
    `attachments` are None when no CRM is configured; the pages then say that the look-up
    searched only Caseload and that files kept in the CRM cannot be downloaded. `clock` and
    `monotonic` are the real clocks unless a test fixes them."""
    from portal_extensions.web import api, pages

    portal = Portal(
        settings=settings,
        accounts=accounts,
        cases=cases,
        writes=writes,
        enquiry_options=enquiry_options,
        directory=directory,
        audit=audit,
        health=health,
        clock=clock or (lambda: datetime.now(UTC)),
        throttle=SignInThrottle(
            settings.failed_sign_in_limit,
            settings.failed_sign_in_limit_per_address,
            settings.failed_sign_in_window_seconds,
            clock=monotonic,
        ),
        assets=load_assets(settings.govuk_frontend_dir),
        templates=make_environment(),
        sessions=sessions,
        parties=parties,
        attachments=attachments,
    )
    app = FastAPI(
        title=f"Caseload – {settings.council_name}",
        summary="Councillors' casework: the JSON API behind every page of the portal.",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.portal = portal
    _install_handlers(app)
    app.include_router(pages.router)
    app.include_router(api.router)
    # Outermost last: headers go on every response, sessions are read before the guard runs.
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key.get_secret_value(),
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        https_only=settings.https,
    )
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    return app
