"""Adding a note to a case: the page's form and the JSON call, over `casework.add_note`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from portal_extensions import casework
from portal_extensions.access import Action
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.web.deps import PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import api_router, page_router
from portal_extensions.web.routes.case import ProblemsOut, QueuedOut, json_answer, page_answer
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()


@case_form(page, "/cases/{portal_id}/notes", Action.ADD_NOTE)
def add_note_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    text: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> Response:
    visible = open_case(portal, viewer, portal_id, Action.ADD_NOTE)
    result = casework.add_note(visible, text, viewer=viewer, writes=portal.writes)
    return page_answer(request, portal, viewer, visible, result, {"note": text.strip()})


class NoteIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


@case_change(
    api, "/cases/{portal_id}/notes", Action.ADD_NOTE, responses={422: {"model": ProblemsOut}}
)
def add_note(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, note: NoteIn
) -> QueuedOut | JSONResponse:
    """Queue a note for the CRM. 404 when the case is missing or not visible; 403 when the
    viewer may read but not change it."""
    visible = open_case(portal, viewer, portal_id, Action.ADD_NOTE)
    result = casework.add_note(visible, note.text, viewer=viewer, writes=portal.writes)
    return json_answer(result, "Check the note")


__all__ = ["api", "page"]
