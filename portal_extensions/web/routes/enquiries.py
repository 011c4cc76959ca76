"""Recording a new enquiry, and looking up the resident it is from (in the index, with their
earlier enquiries the viewer may see, and in the CRM): the page's form and the JSON calls, over
`casework.record_enquiry` and `casework.lookup.find_residents`.

A look-up and a pick are posted, never sent in the address: a resident's name, email or
postcode must not end up in web server logs, proxies or browser history.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from mappings.model import SharingLevel
from portal_extensions import casework
from portal_extensions.access import Page, Role, Viewer, members_for_new_case
from portal_extensions.casework.enquiries import CHANNEL_TEXT, SHARING_TEXT, EnquiryForm
from portal_extensions.casework.lookup import LookupResult, ResidentMatch, picked_resident
from portal_extensions.casework.search import MAX_QUERY_LENGTH
from portal_extensions.web import deps
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep
from portal_extensions.web.forms import day_values, parse_day, read_form
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import render, set_flash

page = page_router()
api = api_router()

ERROR_ANCHORS = {
    "channel": "channel",
    "sharing": "sharing",
    "explicit_consent": "consent",
    "cover_until": "cover_until",
}
#: How the page names each answer, for its problems ("Postcode must be 10 characters or fewer").
LABELS = {
    "member_id": "The councillor",
    "crm_party_id": "The resident's CRM reference (find the resident again)",
    "forename": "First name",
    "surname": "Surname",
    "email": "Email address",
    "phone": "Phone number",
    "postcode": "Postcode",
    "category": "The category",
    "service_id": "The council service",
    "title": "What the enquiry is about",
    "description": "Details",
    "channel": "How the enquiry came in",
    "sharing": "Who else may see it",
    "colleague_id": "The named colleague",
    "cover_until": "The end date",
}
DAY_PARTS = ("day", "month", "year")


def _record(
    portal: Portal,
    viewer: Viewer,
    form: EnquiryForm,
    input_errors: dict[str, str] | None = None,
) -> casework.Queued | casework.Invalid:
    """`casework.record_enquiry` with the portal's parts (both formats); `input_errors` are
    the page's problems with what was typed before the form could be read."""
    return casework.record_enquiry(
        form,
        viewer=viewer,
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
        input_errors=input_errors,
    )


def _enquiry_page(
    request: Request,
    portal: Portal,
    viewer: Viewer,
    values: dict[str, Any],
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
    *,
    find: str = "",
    lookup: LookupResult | None = None,
    picked: ResidentMatch | None = None,
) -> Response:
    """The form with `values` (as typed, or a picked resident's details), and the residents a
    look-up found above it."""
    options = portal.enquiry_options
    field_errors = field_errors or {}
    members = options.members()
    choosable = members_for_new_case(viewer, [member.id for member in members])
    names = {member.id: member.name for member in members}
    return render(
        request,
        "new_enquiry.html",
        {
            # Nothing chosen for sharing until it is asked: each enquiry's own answer.
            "values": {**EnquiryForm().model_dump(), "sharing": "", **day_values(None), **values},
            "find": find,
            "looked_up": lookup is not None,
            "residents": lookup.matches if lookup else [],
            "crm_unavailable": lookup.crm_unavailable if lookup else False,
            "crm_connected": lookup.crm_connected if lookup else True,
            "picked": picked,
            "field_errors": field_errors,
            "errors": [
                {"text": text, "href": f"#{ERROR_ANCHORS.get(name, name)}"}
                for name, text in field_errors.items()
            ],
            "member_choices": []
            if viewer.role is Role.MEMBER
            else [{"value": m, "text": names[m]} for m in choosable],
            "category_choices": [{"value": c.value, "text": c.text} for c in options.categories()],
            "service_choices": [{"value": c.value, "text": c.text} for c in options.services()],
            "colleague_choices": [
                {"value": m.id, "text": m.name} for m in members if m.id != viewer.member_id
            ],
            "channel_items": [{"value": c.value, "text": t} for c, t in CHANNEL_TEXT.items()],
            "sharing_items": [{"value": s.value, "text": t} for s, t in SHARING_TEXT.items()],
        },
        status_code,
    )


@page.get("/enquiries/new")
@allow(Page.NEW_ENQUIRY)
def new_enquiry_form(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    return _enquiry_page(request, portal, viewer, {})


@page.post("/enquiries/new/find")
@allow(Page.NEW_ENQUIRY)
def find_resident(
    request: Request, portal: PortalDep, viewer: ViewerDep, find: Annotated[str, Form()] = ""
) -> Response:
    """The form, with the residents matching `find` (and their earlier enquiries) above it.
    Only the first 200 characters are searched, so a longer entry is no dead end."""
    find = find[:MAX_QUERY_LENGTH]
    if not find.strip():
        return _enquiry_page(request, portal, viewer, {})
    return _enquiry_page(
        request, portal, viewer, {}, find=find, lookup=deps.residents(portal, viewer, find)
    )


@page.post("/enquiries/new/prefill")
@allow(Page.NEW_ENQUIRY)
def pick_resident(
    request: Request,
    portal: PortalDep,
    viewer: ViewerDep,
    find: Annotated[str, Form()] = "",
    pick: Annotated[str, Form()] = "",
) -> Response:
    """The form filled in with a picked resident's details: name, email, phone and postcode,
    from the look-up asked again (the page never carries them in hidden fields). Consent and
    sharing are left to be asked for this enquiry; what was agreed before is shown beside."""
    find = find[:MAX_QUERY_LENGTH]
    picked = picked_resident(deps.residents(portal, viewer, find), pick) if find else None
    if picked is None:
        return _enquiry_page(
            request,
            portal,
            viewer,
            {},
            {"find": "That resident could not be found again: find them and pick them again"},
            422,
            find=find,
        )
    return _enquiry_page(request, portal, viewer, dict(picked.prefill), picked=picked)


@page.post("/enquiries/new")
@allow(Page.NEW_ENQUIRY)
async def new_enquiry_page(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """Record the enquiry; any problem (an answer too long included) shows the form again
    with each problem beside its answer and everything typed kept."""
    posted = await request.form()
    ticked = set(posted.getlist("consent"))
    texts = {
        name: value
        for name in EnquiryForm.model_fields
        if isinstance(value := posted.get(name), str)
    }
    days = {  # the GOV.UK date input names its boxes `cover_until-day` and so on
        f"cover_until_{part}": value
        if isinstance(value := posted.get(f"cover_until-{part}"), str)
        else ""
        for part in DAY_PARTS
    }
    until, day_problem = parse_day(*(days[f"cover_until_{part}"] for part in DAY_PARTS))
    typed: dict[str, Any] = {
        "sharing": "",  # asked for each enquiry: no answer is a problem, not "nobody"
        **texts,
        "cover_until": until.isoformat() if until else "",
        "special_category": "special_category" in ticked,
        "explicit_consent": "explicit_consent" in ticked,
    }
    form, problems = read_form(EnquiryForm, typed, LABELS)
    if day_problem and form.sharing == SharingLevel.NAMED.value:
        problems["cover_until"] = day_problem
    result = _record(portal, viewer, form, problems or None)
    if isinstance(result, casework.Invalid):
        return _enquiry_page(request, portal, viewer, {**typed, **days}, result.errors, 422)
    set_flash(
        request,
        f"/cases/{result.case_id}",
        "Enquiry recorded. It is on its way to the council's CRM.",
    )
    return RedirectResponse(f"/cases/{result.case_id}", status_code=303)


class ChoiceOut(BaseModel):
    value: str
    text: str


class EnquiryOptionsOut(BaseModel):
    members: list[ChoiceOut]
    categories: list[ChoiceOut]
    services: list[ChoiceOut]
    channels: list[ChoiceOut]
    sharing: list[ChoiceOut]


@api.get("/enquiry-options", response_model=EnquiryOptionsOut)
@allow(Page.NEW_ENQUIRY)
def enquiry_options(portal: PortalDep, viewer: ViewerDep) -> EnquiryOptionsOut:
    """The choices of the new enquiry form; `members` are those the viewer records for."""
    options = portal.enquiry_options
    members = options.members()
    allowed = set(members_for_new_case(viewer, [m.id for m in members]))
    return EnquiryOptionsOut(
        members=[ChoiceOut(value=m.id, text=m.name) for m in members if m.id in allowed],
        categories=[ChoiceOut(value=c.value, text=c.text) for c in options.categories()],
        services=[ChoiceOut(value=c.value, text=c.text) for c in options.services()],
        channels=[ChoiceOut(value=c.value, text=t) for c, t in CHANNEL_TEXT.items()],
        sharing=[ChoiceOut(value=s.value, text=t) for s, t in SHARING_TEXT.items()],
    )


class EnquiryCreatedOut(BaseModel):
    queued: bool
    portal_id: uuid.UUID


@api.post(
    "/enquiries",
    status_code=201,
    response_model=EnquiryCreatedOut,
    responses={422: {"description": "Each field's problem, by field name"}},
)
@allow(Page.NEW_ENQUIRY)
def new_enquiry(portal: PortalDep, viewer: ViewerDep, form: EnquiryForm) -> Response:
    """Record a new enquiry; it is queued for the CRM. Members' services name the member."""
    result = _record(portal, viewer, form)
    if isinstance(result, casework.Invalid):
        return JSONResponse({"error": "Check the enquiry", "fields": result.errors}, 422)
    return JSONResponse({"queued": True, "portal_id": str(result.case_id)}, 201)


class PreviousEnquiryOut(BaseModel):
    portal_id: uuid.UUID
    title: str
    received: str
    status: str
    authority: str
    sharing: str


class ResidentOut(BaseModel):
    """A resident found: who, where from, and their earlier enquiries; never their email or
    phone, which are shown only for the resident chosen."""

    name: str
    source: str
    crm_party_id: str | None
    postcode: str | None
    previous: list[PreviousEnquiryOut]
    prefill: dict[str, str]


#: How to reach a resident: in no list of look-up results, only once one is chosen.
CONTACT_FIELDS = frozenset({"email", "phone"})


class ResidentQuery(BaseModel):
    text: Annotated[str, Field(max_length=200)]


@api.post("/residents/search", response_model=list[ResidentOut])
@allow(Page.NEW_ENQUIRY)
def residents(portal: PortalDep, viewer: ViewerDep, query: ResidentQuery) -> list[ResidentOut]:
    """Residents matching a name, postcode or email, from the index (with the earlier enquiries
    the viewer may see, their authority and sharing) and the CRM. `prefill` holds the new
    enquiry's fields to send for a picked resident. Posted, so no name is in the address."""
    return [
        ResidentOut(
            name=match.name,
            source=match.source,
            crm_party_id=match.constituent.crm_party_id,
            postcode=match.constituent.location.postcode,
            previous=[
                PreviousEnquiryOut.model_validate(item, from_attributes=True)
                for item in match.previous
            ],
            prefill={k: v for k, v in match.prefill.items() if k not in CONTACT_FIELDS},
        )
        for match in deps.residents(portal, viewer, query.text).matches
    ]


__all__ = ["api", "page"]
