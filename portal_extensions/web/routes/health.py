"""Health: the administrators' page and JSON (the CRM, the last sync, the outbox...), and
`/healthz`, the probe a load balancer calls; and the JSON API's OpenAPI document, for
administrators only.

`/healthz` is public and sessionless: no sign-in, no cookie, no audit row, and nothing in its
answer but whether this process can reach its store (200 `{"status": "ok"}` when the store
answers a trivial query, 503 otherwise). No versions, counts or case data, since anyone who can
reach the portal can call it. It answers GET and HEAD.
"""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from portal_extensions.access import Page
from portal_extensions.store.audit import Outcome
from portal_extensions.web.deps import PortalDep
from portal_extensions.web.guard import allow, api_router, page_router, sessionless
from portal_extensions.web.pages_common import render

log = logging.getLogger(__name__)

page = page_router()
api = api_router()

HEALTHZ_PATH = "/healthz"
_NOT_CACHED = {"Cache-Control": "no-store"}


@page.get("/health")
@allow(Page.HEALTH)
def health_page(request: Request, portal: PortalDep) -> Response:
    checks = list(portal.health())
    rows = [
        {"key": {"text": "Portal"}, "value": {"text": "Running"}},
        *[
            {
                "key": {"text": check.name},
                "value": {"text": ("Working" if check.ok else "Not working") + f": {check.detail}"},
            }
            for check in checks
        ],
    ]
    portal.record(request, "view_health", Outcome.ALLOWED, subject_type="health")
    return render(request, "health.html", {"rows": rows})


class HealthCheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class HealthOut(BaseModel):
    checks: list[HealthCheckOut]


@api.get("/health", response_model=HealthOut)
@allow(Page.HEALTH)
def health(request: Request, portal: PortalDep) -> HealthOut:
    portal.record(request, "view_health", Outcome.ALLOWED, subject_type="health")
    return HealthOut(
        checks=[
            HealthCheckOut(name=check.name, ok=check.ok, detail=check.detail)
            for check in portal.health()
        ]
    )


@api.get("/openapi.json", include_in_schema=False)
@allow(Page.HEALTH)
def openapi_document(request: Request) -> JSONResponse:
    """The JSON API's OpenAPI document, for an administrator connecting the council's own
    programs. Not for anyone else: a signed-out visitor learns nothing of the API's shape, and
    caseworkers use the pages."""
    return JSONResponse(request.app.openapi())


@page.api_route(HEALTHZ_PATH, methods=["GET", "HEAD"])
@sessionless
def healthz(portal: PortalDep) -> Response:
    """200 while the store answers, 503 while it does not: a load balancer then sends no
    requests to this process. The failure is logged by kind only (a driver's message can name
    hosts and users), and the answer says nothing more than 'unavailable'."""
    try:
        portal.liveness()
    except Exception as error:  # any failure to answer is 'unavailable'
        log.warning("health probe: the store did not answer (%s)", type(error).__name__)
        return JSONResponse({"status": "unavailable"}, 503, headers=_NOT_CACHED)
    return JSONResponse({"status": "ok"}, headers=_NOT_CACHED)


__all__ = ["HEALTHZ_PATH", "api", "page"]
