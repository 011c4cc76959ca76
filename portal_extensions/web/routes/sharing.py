"""The constituent's choices on a case: whom it is shared with (and a named cover colleague's
end date), and their authority (withdrawn at once, or recorded again). The page's forms and
the JSON calls, over `casework.change_sharing` and `casework.change_authority`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from mappings.model import SharingLevel
from portal_extensions import casework
from portal_extensions.access import Action
from portal_extensions.casework.consent import AuthorityForm, SharingForm
from portal_extensions.web.deps import PortalDep, ViewerDep, open_case
from portal_extensions.web.forms import parse_day
from portal_extensions.web.guard import api_router, page_router
from portal_extensions.web.pages_common import message_page
from portal_extensions.web.routes.case import ConflictOut, QueuedOut, json_answer, page_answer
from portal_extensions.web.routes.changes import case_change, case_form

page = page_router()
api = api_router()


@case_form(page, "/cases/{portal_id}/sharing", Action.MANAGE_CONSENT)
def change_sharing_page(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    portal_id: str,
    sharing: Annotated[str, Form(max_length=20)] = "",
    colleague_id: Annotated[str, Form(max_length=64)] = "",
    cover_until_day: Annotated[str, Form(alias="cover_until-day", max_length=10)] = "",
    cover_until_month: Annotated[str, Form(alias="cover_until-month", max_length=10)] = "",
    cover_until_year: Annotated[str, Form(alias="cover_until-year", max_length=10)] = "",
) -> Response:
    """Change whom the case is shared with (and a named cover colleague's end date)."""
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    typed = {
        "sharing": sharing,
        "colleague_id": colleague_id,
        "cover_until_day": cover_until_day,
        "cover_until_month": cover_until_month,
        "cover_until_year": cover_until_year,
    }
    until, day_problem = parse_day(cover_until_day, cover_until_month, cover_until_year)
    result = casework.change_sharing(
        visible,
        SharingForm(level=sharing, colleague_id=colleague_id, until=until),
        viewer=viewer,
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
        input_errors={"cover_until": day_problem}
        if day_problem and sharing == SharingLevel.NAMED.value
        else None,
    )
    return page_answer(request, portal, viewer, visible, result, typed)


@case_form(page, "/cases/{portal_id}/authority", Action.MANAGE_CONSENT)
async def change_authority_page(
    request: Request, portal: PortalDep, viewer: ViewerDep, portal_id: str
) -> Response:
    """Withdraw the constituent's authority (effective at once), or record it again."""
    posted = await request.form()
    decision = posted.get("decision")
    visible = open_case(portal, viewer, portal_id, Action.MANAGE_CONSENT)
    try:
        form = AuthorityForm(
            decision=decision if isinstance(decision, str) else "",
            explicit_consent="explicit_consent" in posted.getlist("consent"),
        )
    except ValidationError:
        return message_page(
            request, 400, "There is a problem with the form", ["Go back and try again."]
        )
    result = casework.change_authority(
        visible, form, viewer=viewer, writes=portal.writes, now=portal.clock()
    )
    return page_answer(request, portal, viewer, visible, result, {})


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
