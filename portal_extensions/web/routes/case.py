"""One case, as a page and as JSON, with only the fields the viewer may see; and how both
formats answer a change to it (notes, files, closing, sharing, services), so every change
route answers alike: the page goes back to the case with a success banner, or shows the form
again with each problem beside its field, or a conflict page; the API answers 202 with the
outbox key, 409 or 422.

The case page is short on a phone: the summary and timeline first, the three quick additions
(a note, a file, sending to a service), and links to a page of its own for each change made
one at a time (sharing, authority, closing, reopening: `case_actions`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, SharingLevel
from portal_extensions.access import Action, Page, Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.casework.timeline import own_pending, queued_file_href, timeline
from portal_extensions.casework.wording import council_date
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import caseload_name, render, set_flash

page = page_router()
api = api_router()

# --------------------------------------------------------------------------------------------
# The page


SHARED_WITH = {
    "private": "Nobody else",
    "ward": "Ward colleagues",
    "party": "Ward colleagues of the same party",
}


def shared_with(case: MemberCase, names: DirectoryNames) -> str:
    """Whom the case is shared with, in words. Sharing is the constituent's choice, so without
    their authority in force it is shared with nobody, whatever the record still holds."""
    if case.authority is None or not case.authority.in_force:
        return "Nobody else (the constituent's authority is not in force)"
    sharing = case.sharing
    if sharing.level is SharingLevel.NAMED:
        named = names.member(sharing.colleague_id) if sharing.colleague_id else "A colleague"
        until = f", until {council_date(sharing.until)}" if sharing.until else ""
        return f"{named} (named colleague{until})"
    return SHARED_WITH.get(sharing.level.value, sharing.level.value)


def _summary_rows(
    fields: dict[str, Any], names: DirectoryNames, case: MemberCase
) -> list[dict[str, Any]]:
    rows: list[tuple[str, str]] = []
    if "constituent" in fields:
        constituent = fields["constituent"]
        name = " ".join(
            part
            for part in (
                constituent.get("title"),
                constituent.get("forename"),
                constituent.get("surname"),
            )
            if part
        )
        rows.append(("Constituent", name))
    for label, key, named in (
        ("Category", "category", names.category),
        ("Member", "member_id", names.member),
        ("Ward", "ward_id", names.ward),
        ("Service", "service_id", names.service),
    ):
        if fields.get(key):
            rows.append((label, named(str(fields[key]))))
    if fields.get("priority"):
        rows.append(("Priority", str(fields["priority"]).replace("_", " ").capitalize()))
    if "received_at" in fields:
        received = datetime.fromisoformat(fields["received_at"]).astimezone(COUNCIL_ZONE)
        rows.append(("Received", council_date(received)))
    if fields.get("target_date"):
        rows.append(("Due", council_date(date.fromisoformat(fields["target_date"]))))
    if "sharing" in fields:
        rows.append(("Shared with", shared_with(case, names)))
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in rows]


FIELD_IDS = {  # each form field's element, for the error summary's links
    "note": "note-text",
    "close": "close-reason",
    "reopen": "reopen-reason",
    "sharing": "sharing",
    "colleague_id": "colleague_id",
    "cover_until": "cover_until",
    "file": "file",
    "service_id": "service_id",
}

#: Where a case page's back link goes (`?from=` on the links that lead to a case), by the
#: page it came from; the viewer's own list otherwise.
BACK_LINKS = {"ward": ("/ward", "Back to the ward"), "search": ("/search", "Back to search")}


def back_link(request: Request, viewer: Viewer) -> dict[str, str]:
    came_from = request.query_params.get("from", "")
    if came_from in BACK_LINKS:
        href, text = BACK_LINKS[came_from]
    else:
        href, text = "/caseload", f"Back to {caseload_name(viewer).lower()}"
    return {"href": href, "text": text}


def _service_request_rows(fields: dict[str, Any], names: DirectoryNames) -> list[str]:
    rows = []
    for item in fields.get("service_requests", []):
        sent = datetime.fromisoformat(item["sent_at"]).astimezone(COUNCIL_ZONE)
        due = council_date(date.fromisoformat(item["response_due"]))
        name = names.service(item["service_id"])
        answered = " (answered)" if item.get("responded_at") else ""
        rows.append(f"Sent to {name} on {council_date(sent)}, reply due {due}{answered}")
    return rows


def authority_text(case: MemberCase) -> str:
    authority = case.authority
    if authority is None:
        return "Not recorded"
    if authority.withdrawn_at is not None:
        return f"Withdrawn on {council_date(authority.withdrawn_at.astimezone(COUNCIL_ZONE))}"
    recorded = council_date(authority.recorded_at.astimezone(COUNCIL_ZONE))
    consent = " with explicit consent for sensitive details" if authority.explicit_consent else ""
    return f"Given on {recorded}{consent}"


def case_actions(visible: VisibleCase) -> list[dict[str, str]]:
    """The links to the pages of the changes made one at a time (the constituent's choices,
    closing, reopening), each shown only to a viewer who may make it in the case's state."""
    case = visible.stored.case
    portal_id = case.portal_id
    in_force = case.authority is not None and case.authority.in_force
    actions: list[dict[str, str]] = []
    if Action.MANAGE_CONSENT in visible.actions:
        if in_force:
            actions.append({"href": f"/cases/{portal_id}/sharing", "text": "Change sharing"})
            if not case.authority or not case.authority.explicit_consent:
                actions.append(
                    {"href": f"/cases/{portal_id}/authority", "text": "Record explicit consent"}
                )
            actions.append(
                {
                    "href": f"/cases/{portal_id}/authority/withdraw",
                    "text": "Withdraw authority",
                    "warning": "true",
                }
            )
        else:
            actions.append({"href": f"/cases/{portal_id}/authority", "text": "Record authority"})
    if Action.CLOSE in visible.actions and case.is_open:
        actions.append({"href": f"/cases/{portal_id}/close", "text": "Close case"})
    if Action.REOPEN in visible.actions and case.status is CaseStatus.CLOSED:
        actions.append({"href": f"/cases/{portal_id}/reopen", "text": "Reopen case"})
    return actions


def case_response(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    visible: VisibleCase,
    *,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    """The case page: the summary and timeline first, then the short forms of what the viewer
    may add (a note, a file, sending to a service) and links to the pages of the rest."""
    fields = visible.fields
    case = visible.stored.case
    field_errors = field_errors or {}
    names = portal.directory.names()
    pending = own_pending(visible, portal.writes.pending(case.portal_id), viewer)
    can_manage = Action.MANAGE_CONSENT in visible.actions
    entries = timeline(visible, pending, names, crm_files=portal.attachments is not None)
    return render(
        request,
        "case.html",
        {
            "back": back_link(request, viewer),
            "authority_text": authority_text(case) if can_manage else "",
            "actions": case_actions(visible),
            "case": fields,
            "portal_id": str(case.portal_id),
            "queued": visible.stored.queued,
            "withdrawn": visible.stored.facts.authority_withdrawn_at is not None,
            "hidden_special": visible.stored.facts.special_category and "description" not in fields,
            "summary_rows": _summary_rows(fields, names, case),
            "can_add_note": Action.ADD_NOTE in visible.actions,
            "can_upload": Action.UPLOAD in visible.actions,
            "can_send": Action.SEND_TO_SERVICE in visible.actions and case.is_open,
            "service_choices": [
                {
                    "value": c.service_id,
                    "text": f"{c.service} (replies within {c.response_target_working_days}"
                    f" working day{'s' if c.response_target_working_days != 1 else ''})",
                }
                for c in portal.directory.service_contacts()
                if c.service_id
            ]
            if Action.SEND_TO_SERVICE in visible.actions
            else [],
            "service_requests": _service_request_rows(fields, names),
            "max_upload": f"{portal.settings.attachment_max_bytes / (1024 * 1024):g} MB",
            "can_respond": Action.RESPOND in visible.actions and case.is_open,
            "timeline": entries,
            "crm_files_unavailable": portal.attachments is None
            and any(file.href is None for entry in entries for file in entry.files),
            "timeline_shown": "notes" in fields or bool(pending),
            "typed": typed or {},
            "field_errors": field_errors,
            "errors": [
                {"text": text, "href": f"#{FIELD_IDS[name]}"} for name, text in field_errors.items()
            ],
        },
        status_code,
    )


def case_form_page(
    request: Request,
    visible: VisibleCase,
    template: str,
    context: dict[str, Any],
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """A page of its own for one change to a case (sharing, authority, closing...): the case
    named above the form, a back link to it, and each problem beside its field."""
    case = visible.stored.case
    field_errors = field_errors or {}
    return render(
        request,
        template,
        {
            **context,
            "case_title": case.title,
            "portal_id": str(case.portal_id),
            "case_href": f"/cases/{case.portal_id}",
            "field_errors": field_errors,
            "errors": [
                {"text": text, "href": f"#{FIELD_IDS.get(name, name)}"}
                for name, text in field_errors.items()
            ],
        },
        status_code,
    )


def _conflict(request: Request, heading: str, portal_id: uuid.UUID) -> Response:
    return render(
        request,
        "message.html",
        {
            "heading": heading,
            "paragraphs": ["Nothing was changed."],
            "link": {"href": f"/cases/{portal_id}", "text": "Back to the case"},
        },
        409,
    )


#: Shows a change's own page again with its problems (what was typed, each field's problem).
FormPage = Callable[[dict[str, str], dict[str, str]], Response]


def page_answer(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    visible: VisibleCase,
    result: ChangeResult,
    typed: dict[str, str],
    *,
    done: str | None = None,
    anchor: str = "",
    form_page: FormPage | None = None,
) -> Response:
    """A change's page answer: back to the case when queued, with `done` (what was done, in a
    fixed sentence with no personal data) in a success banner; the change's page again
    (`form_page`, else the case page) with each problem beside its field and what was typed
    kept; or a conflict page when nothing could change."""
    if isinstance(result, Conflict):
        return _conflict(request, result.message, visible.stored.case.portal_id)
    if isinstance(result, Invalid):
        if form_page is not None:
            return form_page(typed, result.errors)
        return case_response(
            request,
            portal,
            viewer,
            visible,
            status_code=422,
            typed=typed,
            field_errors=result.errors,
        )
    if done:
        set_flash(request, f"/cases/{result.case_id}", done)
    return RedirectResponse(f"/cases/{result.case_id}{anchor}", status_code=303)


@page.get("/cases/{portal_id}")
@allow(Page.CASE, case_param="portal_id")
def case_page(request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str) -> Response:
    return case_response(request, portal, viewer, open_case(portal, viewer, portal_id))


# --------------------------------------------------------------------------------------------
# The JSON


@api.get("/cases/{portal_id}")
@allow(Page.CASE, case_param="portal_id")
def case(portal: PortalDep, viewer: ViewerDep, portal_id: str) -> dict[str, Any]:
    """The case, with only the fields the viewer may see. 404 when missing or not visible."""
    visible = open_case(portal, viewer, portal_id)
    case_id = visible.stored.case.portal_id
    pending = own_pending(visible, portal.writes.pending(case_id), viewer)
    return {
        "queued": visible.stored.queued,
        "case": visible.fields,
        "names": case_names(visible.fields, portal.directory.names()),
        "actions": sorted(action.value for action in visible.actions),
        "pending": [
            {
                "kind": w.kind,
                "state": w.state,
                "created_at": w.created_at.isoformat(),
                "key": w.key,
                "text": w.text,
                "files": [
                    {
                        "file_id": f.file_id,
                        "name": f.name,
                        "media_type": f.media_type,
                        "size_bytes": f.size_bytes,
                        "href": queued_file_href(case_id, f.file_id),
                    }
                    for f in w.files
                ],
            }
            for w in pending
        ],
    }


def case_names(fields: dict[str, Any], names: DirectoryNames) -> dict[str, dict[str, str]]:
    """The names of the ids in the fields the viewer sees, by kind (each id to its name, or to
    itself when the directory does not know it), so a program can show names beside ids."""
    members = {fields.get("member_id"), (fields.get("sharing") or {}).get("colleague_id")}
    members |= {note.get("author") for note in fields.get("notes", [])}
    services = {fields.get("service_id")}
    services |= {item.get("service_id") for item in fields.get("service_requests", [])}
    return {
        "members": {m: names.member(m) for m in members if isinstance(m, str) and m},
        "wards": {w: names.ward(w) for w in [fields.get("ward_id")] if isinstance(w, str) and w},
        "services": {s: names.service(s) for s in services if isinstance(s, str) and s},
        "categories": {
            c: names.category(c) for c in [fields.get("category")] if isinstance(c, str) and c
        },
    }


class QueuedOut(BaseModel):
    queued: bool
    key: str


class ConflictOut(BaseModel):
    error: str


class ProblemsOut(BaseModel):
    error: str
    fields: dict[str, str]


#: A change's refusals, as the OpenAPI document describes them.
CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ConflictOut},
    422: {"model": ProblemsOut},
}


def refused_json(result: ChangeResult, problem: str) -> JSONResponse:
    """409 when nothing could change, else 422 with each field's problem."""
    if isinstance(result, Conflict):
        return JSONResponse({"error": result.message}, 409)
    errors = result.errors if isinstance(result, Invalid) else {}
    return JSONResponse({"error": problem, "fields": errors}, 422)


def json_answer(
    result: ChangeResult, problem: str = "Check the answers"
) -> QueuedOut | JSONResponse:
    """A change's JSON answer: 202 with the outbox key, or why not (`refused_json`)."""
    if isinstance(result, Queued):
        return QueuedOut(queued=True, key=result.key)
    return refused_json(result, problem)


__all__ = [
    "CHANGE_RESPONSES",
    "ConflictOut",
    "FormPage",
    "ProblemsOut",
    "QueuedOut",
    "api",
    "authority_text",
    "case_actions",
    "case_form_page",
    "case_names",
    "case_response",
    "json_answer",
    "page",
    "page_answer",
    "refused_json",
    "shared_with",
]
