"""The constituent's choices on a case: whom it is shared with (and a named cover colleague's
end date), and their authority (withdrawn at once, after a page asking to confirm, or recorded
again). One page per choice, and the JSON calls, over `casework.change_sharing` and
`casework.change_authority`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response

from mappings.model import SharingLevel
from portal_extensions import casework
from portal_extensions.access import Action, Page
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.consent import AuthorityDecision, AuthorityForm, SharingForm
from portal_extensions.casework.enquiries import SHARING_TEXT
from portal_extensions.casework.results import Conflict
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep, open_case
from portal_extensions.web.forms import day_values, parse_day, read_form
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.routes.case import (
    ConflictOut,
    QueuedOut,
    authority_text,
    case_form_page,
    json_answer,
    page_answer,
    shared_with,
)
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()

#: How the sharing page names each answer, for its problems.
LABELS = {"level": "Who else may see it", "colleague_id": "The named colleague"}
DAY_PARTS = ("day", "month", "year")


def _sharing_page(
    request: Request,
    portal: Portal,
    visible: VisibleCase,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    """The sharing page: the case's sharing now, and the form (filled with what was typed)."""
    case = visible.stored.case
    values = {
        "sharing": case.sharing.level.value,
        "colleague_id": case.sharing.colleague_id or "",
        **day_values(case.sharing.until),
        **(typed or {}),
    }
    return case_form_page(
        request,
        visible,
        "case_sharing.html",
        {
            "in_force": case.authority is not None and case.authority.in_force,
            "shared_now": shared_with(case, portal.directory.names()),
            "values": values,
            "sharing_items": [{"value": s.value, "text": t} for s, t in SHARING_TEXT.items()],
            "colleague_choices": [
                {"value": m.id, "text": m.name}
                for m in portal.enquiry_options.members()
                if m.id != case.member_id
            ],
        },
        field_errors,
        422 if field_errors else 200,
    )


@page.get("/cases/{portal_id}/sharing")
@allow(Page.CASE, case_param="portal_id", action=Action.MANAGE_CONSENT)
def sharing_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str
) -> Response:
    """Whom the case is shared with, and the form to change it (while authority is in force)."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    return _sharing_page(request, portal, visible)


@case_form(page, "/cases/{portal_id}/sharing", Action.MANAGE_CONSENT)
def change_sharing_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    sharing: Annotated[str, Form()] = "",
    colleague_id: Annotated[str, Form()] = "",
    cover_until_day: Annotated[str, Form(alias="cover_until-day")] = "",
    cover_until_month: Annotated[str, Form(alias="cover_until-month")] = "",
    cover_until_year: Annotated[str, Form(alias="cover_until-year")] = "",
) -> Response:
    """Change whom the case is shared with (and a named cover colleague's end date); a problem
    shows the sharing page again with everything chosen kept."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    typed = {
        "sharing": sharing,
        "colleague_id": colleague_id,
        "cover_until_day": cover_until_day,
        "cover_until_month": cover_until_month,
        "cover_until_year": cover_until_year,
    }
    until, day_problem = parse_day(cover_until_day, cover_until_month, cover_until_year)
    form, problems = read_form(
        SharingForm, {"level": sharing, "colleague_id": colleague_id, "until": until}, LABELS
    )
    if "level" in problems:
        problems["sharing"] = problems.pop("level")
    if day_problem and sharing == SharingLevel.NAMED.value:
        problems["cover_until"] = day_problem
    result = casework.change_sharing(
        visible,
        form,
        viewer=viewer,
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
        input_errors=problems or None,
    )
    return page_answer(
        request,
        portal,
        viewer,
        visible,
        result,
        typed,
        done="Sharing saved. It takes effect at once.",
        form_page=lambda again, errors: _sharing_page(request, portal, visible, again, errors),
    )


def _authority_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str, template: str
) -> Response:
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    case = visible.stored.case
    return case_form_page(
        request,
        visible,
        template,
        {
            "in_force": case.authority is not None and case.authority.in_force,
            "explicit": case.authority is not None and case.authority.explicit_consent,
            "authority_now": authority_text(case),
            "shared_now": shared_with(case, portal.directory.names()),
        },
    )


@page.get("/cases/{portal_id}/authority")
@allow(Page.CASE, case_param="portal_id", action=Action.MANAGE_CONSENT)
def authority_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str
) -> Response:
    """Record the constituent's authority (when none is in force), or their explicit consent
    for sensitive details (when authority is in force without it)."""
    return _authority_page(request, portal, viewer, portal_id, "case_authority.html")


@page.get("/cases/{portal_id}/authority/withdraw")
@allow(Page.CASE, case_param="portal_id", action=Action.MANAGE_CONSENT)
def withdraw_authority_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str
) -> Response:
    """Asks to confirm a withdrawal, saying what it does, before anything changes."""
    return _authority_page(request, portal, viewer, portal_id, "case_withdraw.html")


AUTHORITY_DONE = {
    AuthorityDecision.WITHDRAW: "Authority withdrawn. Nobody else can see the case now.",
    AuthorityDecision.RECORD: "Authority recorded.",
}


@case_form(page, "/cases/{portal_id}/authority", Action.MANAGE_CONSENT)
def change_authority_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    decision: Annotated[str, Form()] = "",
    consent: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Withdraw the constituent's authority (effective at once), or record it again. The
    decision comes from the page's own buttons: anything else is a conflict, nothing changes."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    try:
        chosen = AuthorityDecision(decision)
    except ValueError:
        return page_answer(
            request, portal, viewer, visible, Conflict("That is not a change to authority"), {}
        )
    form = AuthorityForm(decision=chosen, explicit_consent="explicit_consent" in (consent or []))
    result = casework.change_authority(
        visible, form, viewer=viewer, writes=portal.writes, now=portal.clock()
    )
    done = AUTHORITY_DONE[chosen]
    if chosen is AuthorityDecision.RECORD and form.explicit_consent:
        done = "Authority recorded, with explicit consent for sensitive details."
    return page_answer(request, portal, viewer, visible, result, {}, done=done)


@case_change(api, "/cases/{portal_id}/sharing", Action.MANAGE_CONSENT)
def change_sharing(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: SharingForm
) -> QueuedOut | JSONResponse:
    """Change whom the case is shared with (`level`: private, ward, party, named; `named`
    needs `colleague_id`, and `until` ends the cover). Takes effect at once, queued for the
    CRM. Only the owner, their Members' Services staff and the team leader."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    result = casework.change_sharing(
        visible,
        body,
        viewer=viewer,
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
    )
    return json_answer(result)


@case_change(
    api,
    "/cases/{portal_id}/authority",
    Action.MANAGE_CONSENT,
    responses={409: {"model": ConflictOut}},
)
def change_authority(
    portal: PortalDep, viewer: ViewerDep, portal_id: str, body: AuthorityForm
) -> QueuedOut | JSONResponse:
    """Withdraw the constituent's authority (every colleague's and service's view ends at
    once) or record it again, with or without explicit consent for sensitive details."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    result = casework.change_authority(
        visible, body, viewer=viewer, writes=portal.writes, now=portal.clock()
    )
    return json_answer(result)


__all__ = ["api", "page"]
