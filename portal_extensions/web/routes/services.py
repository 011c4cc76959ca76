"""Sending a case to a council service from the directory: the page's form and the JSON call,
over `casework.send_to_service` (the reply is due after the service's response target, in
working days with the bank holidays of the council's nation skipped)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal_extensions import casework
from portal_extensions.access import Action, Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.results import ChangeResult, Queued
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import api_router, page_router
from portal_extensions.web.routes.case import ConflictOut, QueuedOut, page_answer, refused_json
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()


def _send(portal: Portal, viewer: Viewer, visible: VisibleCase, service_id: str) -> ChangeResult:
    return casework.send_to_service(
        visible,
        service_id,
        viewer=viewer,
        contacts=portal.directory.service_contacts(),
        writes=portal.writes,
        now=portal.clock(),
        nation=portal.settings.bank_holiday_nation,
    )


@case_form(page, "/cases/{portal_id}/service", Action.SEND_TO_SERVICE)
def send_to_service_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    service_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send the case to a service; the reply is due after the service's response target."""
    visible = open_case(portal, viewer, portal_id, Action.SEND_TO_SERVICE)
    result = _send(portal, viewer, visible, service_id)
    return page_answer(request, portal, viewer, visible, result, {"service_id": service_id})


class ServiceIn(BaseModel):
    service_id: Annotated[str, Field(min_length=1, max_length=64)]


class SentOut(QueuedOut):
    response_due: date


@case_change(
    api,
    "/cases/{portal_id}/service",
    Action.SEND_TO_SERVICE,
    responses={409: {"model": ConflictOut}, 422: {"description": "Unknown service"}},
    response_model=SentOut,
)
def send_to_service(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: ServiceIn
) -> SentOut | JSONResponse:
    """Send the case to a service from the directory; the reply is due after the service's
    response target in working days (bank holidays of the council's nation skipped)."""
    visible = open_case(portal, viewer, portal_id, Action.SEND_TO_SERVICE)
    result = _send(portal, viewer, visible, body.service_id)
    if isinstance(result, Queued) and result.response_due is not None:
        return SentOut(queued=True, key=result.key, response_due=result.response_due)
    return refused_json(result, "Check the service")


__all__ = ["api", "page"]
