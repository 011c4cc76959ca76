"""The portal's web application: `create_app(settings, ...)`.

It puts the portal's parts (`deps.Portal`) on the app, includes every feature's routers
(`routes.ROUTERS`) behind the guard (`guard.guard`: sign-in, CSRF and each route's declared
page), and answers refusals: as a page for a person, as JSON under `/api/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

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
from portal_extensions.config import PortalSettings
from portal_extensions.reports.service import Reports
from portal_extensions.web.assets import load_assets
from portal_extensions.web.auth import SignInThrottle
from portal_extensions.web.deps import Liveness, Portal
from portal_extensions.web.guard import API_PREFIX, SESSION_COOKIE, guard, is_api
from portal_extensions.web.pages_common import message_page, not_found_response
from portal_extensions.web.refusals import CANNOT_CHANGE, NotFound, Refused, SignInRequired
from portal_extensions.web.rendering import make_environment
from portal_extensions.web.routes import ROUTERS
from portal_extensions.web.security import SecurityHeadersMiddleware


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
    liveness: Liveness,
    sessions: SessionRegistry,
    reports: Reports,
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
    portal = Portal(
        settings=settings,
        accounts=accounts,
        cases=cases,
        writes=writes,
        enquiry_options=enquiry_options,
        directory=directory,
        audit=audit,
        health=health,
        liveness=liveness,
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
        reports=reports,
        parties=parties,
        attachments=attachments,
    )
    app = FastAPI(
        title=f"Caseload – {settings.council_name}",
        summary="Councillors' casework: the JSON API behind every page of the portal.",
        version="1",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # the interactive docs load scripts from a CDN
        redoc_url=None,
        dependencies=[Depends(guard)],
    )
    app.state.portal = portal
    _install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
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
