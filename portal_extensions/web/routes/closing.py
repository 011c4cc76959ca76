"""Closing and reopening a case, with the reason: the page's forms and the JSON calls, over
`casework.close_case` and `casework.reopen_case` (which hold the preconditions: a closed case
is not closed again, only a closed case is reopened)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal_extensions import casework
from portal_extensions.access import Action, Page
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.web.deps import PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.routes.case import (
    CHANGE_RESPONSES,
    QueuedOut,
    json_answer,
    page_answer,
)

page = page_router()
api = api_router()

#: The pages' reason box (longer than the API allows, so casework says it is too long).
ReasonField = Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)]


@page.post("/cases/{portal_id}/close")
@allow(Page.CASE, case_param="portal_id", action=Action.CLOSE)
def close_case_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    reason: ReasonField = "",
) -> Response:
    visible = open_case(portal, viewer, portal_id, Action.CLOSE)
    result = casework.close_case(visible, reason, viewer=viewer, writes=portal.writes)
    return page_answer(request, portal, viewer, visible, result, {"close": reason.strip()})


@page.post("/cases/{portal_id}/reopen")
@allow(Page.CASE, case_param="portal_id", action=Action.REOPEN)
def reopen_case_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    reason: ReasonField = "",
) -> Response:
    visible = open_case(portal, viewer, portal_id, Action.REOPEN)
    result = casework.reopen_case(visible, reason, viewer=viewer, writes=portal.writes)
    return page_answer(request, portal, viewer, visible, result, {"reopen": reason.strip()})


class ReasonIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


@api.post(
    "/cases/{portal_id}/close",
    response_model=QueuedOut,
    status_code=202,
    responses=CHANGE_RESPONSES,
)
@allow(Page.CASE, case_param="portal_id", action=Action.CLOSE)
def close_case(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: ReasonIn
) -> QueuedOut | JSONResponse:
    """Queue closing the case, with the reason, for the CRM. 409 if it is already closed."""
    visible = open_case(portal, viewer, portal_id, Action.CLOSE)
    result = casework.close_case(visible, body.reason, viewer=viewer, writes=portal.writes)
    return json_answer(result, "Check the reason")


@api.post(
    "/cases/{portal_id}/reopen",
    response_model=QueuedOut,
    status_code=202,
    responses=CHANGE_RESPONSES,
)
@allow(Page.CASE, case_param="portal_id", action=Action.REOPEN)
def reopen_case(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: ReasonIn
) -> QueuedOut | JSONResponse:
    """Queue reopening a closed case, with the reason, for the CRM. 409 if it is not closed."""
    visible = open_case(portal, viewer, portal_id, Action.REOPEN)
    result = casework.reopen_case(visible, body.reason, viewer=viewer, writes=portal.writes)
    return json_answer(result, "Check the reason")


__all__ = ["api", "page"]
