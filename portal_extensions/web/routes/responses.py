"""A service's reply to a case sent to it: the service officer's page (only what they need to
answer, and the form) and the JSON call, over `casework.responses.respond`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from portal_extensions.access import Action, Page, Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.responses import (
    MAX_RESPONSE_LENGTH,
    open_for_reply,
    respond,
    response_view,
)
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render
from portal_extensions.web.routes.case import QueuedOut, json_answer
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()


def _reply(portal: Portal, viewer: Viewer, visible: VisibleCase, text: str) -> ChangeResult:
    return respond(
        visible,
        text,
        viewer=viewer,
        names=portal.directory.names(),
        writes=portal.writes,
        now=portal.clock(),
    )


def _page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    visible: VisibleCase,
    *,
    status_code: int = 200,
    typed: str = "",
    problem: str | None = None,
    conflict: str | None = None,
    replied: bool = False,
) -> Response:
    case_id = visible.stored.case.portal_id
    # The officer's own replies still waiting for the CRM (once confirmed they are the CRM's
    # notes, which a service officer does not see).
    replies = [
        write
        for write in portal.writes.pending(case_id)
        if write.kind == "service_response" and write.actor == viewer.user_id
    ]
    return render(
        request,
        "respond.html",
        {
            "view": response_view(visible, portal.directory.names()),
            "portal_id": str(case_id),
            "typed": typed,
            "problem": problem,
            "conflict": conflict,
            "replied": replied,
            "replies": replies,
            "max_length": MAX_RESPONSE_LENGTH,
            "errors": [{"text": problem, "href": "#response"}] if problem else [],
        },
        status_code,
    )


@page.get("/cases/{portal_id}/respond")
@allow(Page.CASE, case_param="portal_id", action=Action.RESPOND)
def respond_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    replied: bool = False,
) -> Response:
    """What the service needs to answer the case, and the form for its reply."""
    visible = open_for_reply(
        viewer, portal_id, cases=portal.cases, audit=portal.audit, now=portal.clock()
    )
    return _page(request, portal, viewer, visible, replied=replied)


@case_form(page, "/cases/{portal_id}/respond", Action.RESPOND)
def respond_form(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    response: Annotated[str, Form(max_length=MAX_RESPONSE_LENGTH * 2)] = "",
) -> Response:
    """Send the reply: back to the page with a confirmation, or the page again with the
    problem beside the reply (what was typed kept), or 409 when the case is closed."""
    visible = open_case(portal, viewer, portal_id, Action.RESPOND)
    result = _reply(portal, viewer, visible, response)
    if isinstance(result, Queued):
        return RedirectResponse(f"/cases/{result.case_id}/respond?replied=true", status_code=303)
    if isinstance(result, Conflict):
        return _page(request, portal, viewer, visible, status_code=409, conflict=result.message)
    problem = result.errors.get("response") if isinstance(result, Invalid) else None
    return _page(
        request, portal, viewer, visible, status_code=422, typed=response.strip(), problem=problem
    )


class ResponseIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=MAX_RESPONSE_LENGTH)]


@case_change(api, "/cases/{portal_id}/respond", Action.RESPOND)
def respond_api(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: ResponseIn
) -> QueuedOut | JSONResponse:
    """The service's reply: queued for the CRM as a note, and the case becomes `responded`.
    404 when the case is missing or not visible; 403 for anyone but the service it was sent
    to; 409 when the case is closed."""
    visible = open_case(portal, viewer, portal_id, Action.RESPOND)
    return json_answer(_reply(portal, viewer, visible, body.text), "Check the reply")


__all__ = ["api", "page"]
