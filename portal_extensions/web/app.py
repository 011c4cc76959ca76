"""The portal's web application: `create_app(settings, ...)`.

It puts the portal's parts (`deps.Portal`) on the app, includes every feature's routers
(`routes.ROUTERS`) behind the guard (`guard.guard`: sign-in, CSRF and each route's declared
page), and answers refusals: as a page for a person, as JSON under `/api/`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from portal_extensions.casework.errors import ActionRefused, CaseNotFound
from portal_extensions.casework.ports import (
    AccountAdmin,
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
    SignInFailures,
)
from portal_extensions.config import PortalSettings
from portal_extensions.reports.service import Reports
from portal_extensions.web.assets import load_assets
from portal_extensions.web.auth import SignInThrottle
from portal_extensions.web.deps import Liveness, Portal, portal_of
from portal_extensions.web.guard import (
    SESSION_COOKIE,
    SESSION_USER,
    all_routes,
    guard,
    is_api,
    route_access,
)
from portal_extensions.web.pages_common import message_page, not_found_response
from portal_extensions.web.refusals import CANNOT_CHANGE, NotFound, Refused, SignInRequired
from portal_extensions.web.rendering import make_environment
from portal_extensions.web.routes import ROUTERS
from portal_extensions.web.routes.case import ProblemsOut
from portal_extensions.web.security import (
    BodyLimitMiddleware,
    BodyTooLarge,
    SecurityHeadersMiddleware,
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
        if isinstance(exc, BodyTooLarge):
            return _too_large(request, exc)
        heading = "Sorry, there is a problem"
        if exc.status_code == 405:
            heading = "This page cannot do that"
        response = message_page(request, exc.status_code, heading, [])
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # Detail of what failed may echo input; a person gets a plain page, a program the field.
        if is_api(request):
            fields = {".".join(str(p) for p in e["loc"]): str(e["msg"]) for e in exc.errors()}
            return JSONResponse({"error": "Invalid request", "fields": fields}, 422)
        return message_page(
            request, 400, "There is a problem with that web address", ["Go back and try again."]
        )


class ErrorOut(BaseModel):
    """A refusal: what went wrong, and what to do about it."""

    error: str
    detail: str = ""


UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _describe_refusals(app: FastAPI) -> None:
    """Document on each JSON route every refusal it can answer, from what the route declares
    (`guard.RouteAccess`), so the OpenAPI document says what the API really does: 401 and 403
    unless public, 404 for a case route (a case not seen answers like a missing one), 400, 403
    (CSRF), 413 and 422 where a body is sent, 422 where anything is read from the request. A
    route's own descriptions (409, a 422 of its own) are kept."""
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        access = route_access(route.endpoint)
        unsafe = bool((route.methods or set()) & UNSAFE_METHODS)
        answers: dict[int, str] = {}
        if access is not None and not access.public:
            answers |= {401: "Not signed in", 403: "Not a page this account may use"}
        if access is not None and access.case_param:
            answers[404] = "No such case, or not one this account may see"
        if unsafe:
            answers |= {
                400: "The body could not be read",
                403: "No CSRF token, or not this session's (or not allowed)",
                413: "The body is larger than this route takes",
            }
        if unsafe or route.dependant.path_params or route.dependant.query_params:
            answers[422] = "The request does not match this description"
        responses = {status: dict(answer) for status, answer in route.responses.items()}
        for status, description in answers.items():
            answer = responses.setdefault(status, {"description": description})
            answer.setdefault("model", ProblemsOut if status == 422 else ErrorOut)
        route.responses = responses  # a copy: routes may share one declaration's dict


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette names only the first route's)."""
    path = request.url.path
    return sorted(
        {
            method
            for route in all_routes(request.app.routes)
            if isinstance(route, APIRoute) and route.path_regex.fullmatch(path)
            for method in route.methods or ()
        }
    )


def _too_large(request: Request, exc: BodyTooLarge) -> Response:
    """A request body over its route's limit (`web.security`): nothing of it was kept."""
    if exc.upload:
        megabytes = portal_of(request).settings.attachment_max_bytes // (1024 * 1024) or 1
        heading, advice = "The file is too large", f"Files must be smaller than {megabytes} MB."
    else:
        heading, advice = "Too much was sent", "Go back, shorten what you typed and try again."
    response = message_page(request, 413, heading, [f"Nothing was saved. {advice}"])
    response.headers["Connection"] = "close"  # the rest of the body is not read
    return response


def _next_query(target: str) -> str:
    return urlencode({"next": target})


def create_app(
    settings: PortalSettings,
    *,
    accounts: Accounts,
    account_admin: AccountAdmin,
    cases: CaseRepository,
    writes: CaseWrites,
    enquiry_options: EnquiryOptions,
    directory: DirectorySource,
    audit: AuditTrail,
    health: HealthSource,
    liveness: Liveness,
    sessions: SessionRegistry,
    reports: Reports,
    parties: PartySource | None,
    attachments: AttachmentSource | None,
    sign_in_failures: SignInFailures,
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """The portal's ASGI app over its parts (the store's and the connector's, put together by
    `runtime`). Every part is required: nothing falls back to memory. `parties` and
    `attachments` are None when no CRM is configured; the pages then say that the look-up
    searched only Caseload and that files kept in the CRM cannot be downloaded.
    `sign_in_failures` are the throttle's counters, shared by every portal process. `clock` is
    the real clock unless a test fixes it."""
    now = clock or (lambda: datetime.now(UTC))
    portal = Portal(
        settings=settings,
        accounts=accounts,
        account_admin=account_admin,
        cases=cases,
        writes=writes,
        enquiry_options=enquiry_options,
        directory=directory,
        audit=audit,
        health=health,
        liveness=liveness,
        clock=now,
        throttle=SignInThrottle(sign_in_failures, settings, clock=now),
        assets=load_assets(settings.govuk_frontend_dir),
        templates=make_environment(),
        sessions=sessions,
        reports=reports,
        parties=parties,
        attachments=attachments,
    )
    app = FastAPI(
        title=f"Caseload – {settings.council_name}",
        summary="Councillors' casework: the JSON API behind every page of the portal.",
        version="1",
        # Served by a route of its own, to administrators only (`routes/health.py`).
        openapi_url=None,
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.portal = portal
    _install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    _describe_refusals(app)
    # Outermost last: headers go on every response, sessions are read before the guard runs
    # and before a body's limit is chosen.
    app.add_middleware(
        BodyLimitMiddleware,
        settings=settings,
        signed_in=lambda scope: isinstance(scope.get("session", {}).get(SESSION_USER), str),
    )
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
