"""Closing and reopening a case, with the reason: a page of its own for each (reached from the
case page), and the JSON calls, over `casework.close_case` and `casework.reopen_case` (which
hold the preconditions: a closed case is not closed again, only a closed case is reopened, and
the reason is required and at most `MAX_TEXT_LENGTH` characters, however long what was typed)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal_extensions import casework
from portal_extensions.access import Action, Page, Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import ChangeResult
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.routes.case import (
    CHANGE_RESPONSES,
    QueuedOut,
    case_form_page,
    json_answer,
    page_answer,
)

page = page_router()
api = api_router()

#: Each route's casework call; the action is also what the route declares and opens the case
#: for, so a route cannot check one action and perform another.
_CHANGES = {Action.CLOSE: casework.close_case, Action.REOPEN: casework.reopen_case}
#: The page's name of each change (its path, and the form field its problem is reported as).
_NAMES = {Action.CLOSE: "close", Action.REOPEN: "reopen"}
_DONE = {
    Action.CLOSE: "Case closed. The council's CRM is told.",
    Action.REOPEN: "Case reopened. The council's CRM is told.",
}


def _change(
    portal: Portal, viewer: Viewer, portal_id: str, action: Action, reason: str
) -> tuple[VisibleCase, ChangeResult]:
    """Open the case for `action` and queue that change with the reason (both formats)."""
    visible = open_case(portal, viewer, portal_id, action)
    return visible, _CHANGES[action](visible, reason, viewer=viewer, writes=portal.writes)


def _reason_page(
    request: Request,
    visible: VisibleCase,
    action: Action,
    reason: str = "",
    field_errors: dict[str, str] | None = None,
) -> Response:
    return case_form_page(
        request,
        visible,
        "case_close.html",
        {"change": _NAMES[action], "reason": reason},
        field_errors,
        422 if field_errors else 200,
    )


def _reason_answer(
    request: Request, portal: Portal, viewer: Viewer, portal_id: str, action: Action, reason: str
) -> Response:
    """The change queued (back to the case, with a banner), or its page again with the reason
    kept and its problem (missing, too long) beside it."""
    visible, result = _change(portal, viewer, portal_id, action, reason)
    name = _NAMES[action]
    return page_answer(
        request,
        portal,
        viewer,
        visible,
        result,
        {name: reason.strip()},
        done=_DONE[action],
        form_page=lambda typed, errors: _reason_page(request, visible, action, typed[name], errors),
    )


@page.get("/cases/{portal_id}/close")
@allow(Page.CASE, case_param="portal_id", action=Action.CLOSE)
def close_form(request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str) -> Response:
    """The page asking why the case is being closed."""
    return _reason_page(request, open_case(portal, viewer, portal_id, Action.CLOSE), Action.CLOSE)


@page.post("/cases/{portal_id}/close")
@allow(Page.CASE, case_param="portal_id", action=Action.CLOSE)
def close_case_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _reason_answer(request, portal, viewer, portal_id, Action.CLOSE, reason)


@page.get("/cases/{portal_id}/reopen")
@allow(Page.CASE, case_param="portal_id", action=Action.REOPEN)
def reopen_form(request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str) -> Response:
    """The page asking why a closed case needs more work."""
    return _reason_page(request, open_case(portal, viewer, portal_id, Action.REOPEN), Action.REOPEN)


@page.post("/cases/{portal_id}/reopen")
@allow(Page.CASE, case_param="portal_id", action=Action.REOPEN)
def reopen_case_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _reason_answer(request, portal, viewer, portal_id, Action.REOPEN, reason)


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
    _, result = _change(portal, viewer, portal_id, Action.CLOSE, body.reason)
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
    _, result = _change(portal, viewer, portal_id, Action.REOPEN, body.reason)
    return json_answer(result, "Check the reason")


__all__ = ["api", "page"]
