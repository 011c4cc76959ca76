"""Closing and reopening a case, with the reason: the page's forms and the JSON calls, over
`casework.close_case` and `casework.reopen_case` (which hold the preconditions: a closed case
is not closed again, only a closed case is reopened)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal_extensions import casework
from portal_extensions.access import Action, Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import ChangeResult
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import api_router, page_router
from portal_extensions.web.routes.case import QueuedOut, json_answer, page_answer
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()

#: The pages' reason box (longer than the API allows, so casework says it is too long).
ReasonField = Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)]
#: Each route's casework call; the action is also what the route declares and opens the case
#: for, so a route cannot check one action and perform another.
_CHANGES = {Action.CLOSE: casework.close_case, Action.REOPEN: casework.reopen_case}


def _change(
    portal: Portal, viewer: Viewer, portal_id: str, action: Action, reason: str
) -> tuple[VisibleCase, ChangeResult]:
    """Open the case for `action` and queue that change with the reason (both formats)."""
    visible = open_case(portal, viewer, portal_id, action)
    return visible, _CHANGES[action](visible, reason, viewer=viewer, writes=portal.writes)


class ReasonIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


def _routes(action: Action, name: str, doc: str) -> None:
    """Declare the page form and the JSON endpoint of `action` at `/cases/{portal_id}/<name>`:
    closing and reopening differ only in the casework call and the words."""

    def change_page(
        request: Request,
        portal: PortalDep,
        viewer: ViewerDep,
        portal_id: str,
        reason: ReasonField = "",
    ) -> Response:
        visible, result = _change(portal, viewer, portal_id, action, reason)
        return page_answer(request, portal, viewer, visible, result, {name: reason.strip()})

    def change(
        portal: PortalDep, viewer: ViewerDep, portal_id: str, body: ReasonIn
    ) -> QueuedOut | JSONResponse:
        _, result = _change(portal, viewer, portal_id, action, body.reason)
        return json_answer(result, "Check the reason")

    change_page.__name__ = f"{name}_case_page"
    change.__name__, change.__doc__ = f"{name}_case", doc
    path = f"/cases/{{portal_id}}/{name}"
    case_form(page, path, action)(change_page)
    case_change(api, path, action)(change)


_routes(
    Action.CLOSE,
    "close",
    "Queue closing the case, with the reason, for the CRM. 409 if it is already closed.",
)
_routes(
    Action.REOPEN,
    "reopen",
    "Queue reopening a closed case, with the reason, for the CRM. 409 if it is not closed.",
)


__all__ = ["api", "page"]
