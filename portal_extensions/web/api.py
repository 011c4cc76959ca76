"""The JSON API: every page action as a call, for the CRM's own portal to embed or use.

Same guard, same access policy and the same audit events as the pages. Unsafe methods need the
session's CSRF token in the `X-CSRF-Token` header (from `GET /api/v1/session`).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from mappings.model import CaseStatus
from portal_extensions import casework
from portal_extensions.access import Action, Role, members_for_new_case
from portal_extensions.casework.cases import api_whose_choices, parse_bucket, parse_whose
from portal_extensions.casework.consent import AuthorityForm, SharingForm
from portal_extensions.casework.enquiries import CHANNEL_TEXT, SHARING_TEXT, EnquiryForm
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.casework.timeline import own_pending, queued_file_href
from portal_extensions.store.audit import Outcome
from portal_extensions.store.case_types import Bucket, CaseSummary, Whose
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.web import deps
from portal_extensions.web.app import (
    ALL_ROLES,
    CASE_ROLES,
    NotFound,
    allow,
    end_session,
    guard,
    portal_of,
    public,
)
from portal_extensions.web.deps import list_cases, open_case, read_upload, signed_in
from portal_extensions.web.security import csrf_token

router = APIRouter(prefix="/api/v1", tags=["caseload"], dependencies=[Depends(guard)])


class SessionOut(BaseModel):
    user_id: str
    display_name: str
    role: Role
    csrf_token: str


class CaseRowOut(BaseModel):
    portal_id: uuid.UUID
    crm_reference: str | None
    title: str
    member_id: str
    member_name: str  # the directory's name, or the id when the directory does not know it
    status: CaseStatus
    received_at: datetime
    target_date: date | None
    queued: bool


def _rows(rows: list[CaseSummary], names: DirectoryNames) -> list[CaseRowOut]:
    return [
        CaseRowOut(
            portal_id=row.portal_id,
            crm_reference=row.crm_reference,
            title=row.title,
            member_id=row.member_id,
            member_name=names.member(row.member_id),
            status=row.status,
            received_at=row.received_at,
            target_date=row.target_date,
            queued=row.queued,
        )
        for row in rows
    ]


class CaseListOut(BaseModel):
    bucket: Bucket
    whose: Whose
    counts: dict[Bucket, int]
    # Open cases a member covers for colleagues (null for roles that cover nobody, and on lists
    # other than My caseload).
    covering_open: int | None = None
    total: int
    offset: int
    cases: list[CaseRowOut]


class HealthCheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class HealthOut(BaseModel):
    checks: list[HealthCheckOut]


class SignedOut(BaseModel):
    signed_out: bool


@router.get("/session", response_model=SessionOut)
@allow(*ALL_ROLES)
def session(request: Request) -> SessionOut:
    """Who is signed in, and the CSRF token to send with unsafe calls."""
    viewer = signed_in(request)
    account = request.state.account
    return SessionOut(
        user_id=viewer.user_id,
        display_name=account.display_name,
        role=viewer.role,
        csrf_token=csrf_token(request.session),
    )


@router.post("/sign-out", response_model=SignedOut)
@public
def sign_out(request: Request) -> SignedOut:
    if request.state.viewer is not None:
        portal_of(request).record(request, "sign_out", Outcome.ALLOWED, subject_type="session")
    end_session(request)
    return SignedOut(signed_out=True)


@router.get("/caseload", response_model=CaseListOut)
@allow(*CASE_ROLES)
def caseload(
    request: Request, view: str | None = None, offset: int = 0, whose: str | None = None
) -> CaseListOut:
    """The viewer's cases in one group (open, overdue, awaiting_service, recently_closed).

    Every case the viewer may see by default (`whose=all`); a member may ask for only their own
    cases (`whose=own`, as My caseload shows them) or the colleagues' cases naming them as
    cover (`whose=covering`). Other roles always get `all`; a value the viewer cannot choose
    gives the default list, as on the page.
    """
    bucket = parse_bucket(view)
    chosen = parse_whose(whose, api_whose_choices(signed_in(request)))
    listing = list_cases(request, bucket, offset, whose=chosen)
    covering: int | None = None
    if chosen is Whose.COVERING:
        covering = listing.counts[Bucket.OPEN]
    elif Whose.COVERING in listing.other_counts:
        covering = listing.other_counts[Whose.COVERING][Bucket.OPEN]
    return CaseListOut(
        bucket=bucket,
        whose=chosen,
        counts=dict(listing.counts),
        covering_open=covering,
        total=listing.total,
        offset=max(offset, 0),
        cases=_rows(listing.rows, portal_of(request).directory.names()),
    )


@router.get("/ward", response_model=CaseListOut)
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def ward(
    request: Request, ward: str | None = None, view: str | None = None, offset: int = 0
) -> CaseListOut:
    """A ward's cases the viewer may see (a member's own ward; staff name one)."""
    viewer = signed_in(request)
    wards = sorted({m.ward_id for m in portal_of(request).enquiry_options.members()})
    if viewer.role is Role.MEMBER:
        ward_id = viewer.ward_id
    else:
        ward_id = ward if ward in wards else (wards[0] if wards and ward is None else None)
    if not ward_id:
        raise NotFound
    bucket = parse_bucket(view)
    listing = list_cases(request, bucket, offset, ward_id)
    return CaseListOut(
        bucket=bucket,
        whose=Whose.ALL,
        counts=dict(listing.counts),
        total=listing.total,
        offset=max(offset, 0),
        cases=_rows(listing.rows, portal_of(request).directory.names()),
    )


class ChoiceOut(BaseModel):
    value: str
    text: str


class EnquiryOptionsOut(BaseModel):
    members: list[ChoiceOut]
    categories: list[ChoiceOut]
    services: list[ChoiceOut]
    channels: list[ChoiceOut]
    sharing: list[ChoiceOut]


@router.get("/enquiry-options", response_model=EnquiryOptionsOut)
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def enquiry_options(request: Request) -> EnquiryOptionsOut:
    """The choices of the new enquiry form; `members` are those the viewer records for."""
    viewer = signed_in(request)
    options = portal_of(request).enquiry_options
    members = options.members()
    allowed = set(members_for_new_case(viewer, [m.id for m in members]))
    return EnquiryOptionsOut(
        members=[ChoiceOut(value=m.id, text=m.name) for m in members if m.id in allowed],
        categories=[ChoiceOut(value=c.value, text=c.text) for c in options.categories()],
        services=[ChoiceOut(value=c.value, text=c.text) for c in options.services()],
        channels=[ChoiceOut(value=c.value, text=t) for c, t in CHANNEL_TEXT.items()],
        sharing=[ChoiceOut(value=s.value, text=t) for s, t in SHARING_TEXT.items()],
    )


@router.get("/cases/{portal_id}")
@allow(*CASE_ROLES, case_param="portal_id")
def case(request: Request, portal_id: str) -> dict[str, Any]:
    """The case, with only the fields the viewer may see. 404 when missing or not visible."""
    visible = open_case(request, portal_id)
    portal = portal_of(request)
    case_id = visible.stored.case.portal_id
    pending = own_pending(visible, portal.writes.pending(case_id), signed_in(request))
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


class NoteIn(BaseModel):
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


class QueuedOut(BaseModel):
    queued: bool
    key: str


class ConflictOut(BaseModel):
    error: str


class ProblemsOut(BaseModel):
    error: str
    fields: dict[str, str]


def _refused(result: ChangeResult, problem: str) -> JSONResponse:
    """409 when nothing could change, else 422 with each field's problem."""
    if isinstance(result, Conflict):
        return JSONResponse({"error": result.message}, 409)
    errors = result.errors if isinstance(result, Invalid) else {}
    return JSONResponse({"error": problem, "fields": errors}, 422)


def _answer(result: ChangeResult, problem: str = "Check the answers") -> QueuedOut | JSONResponse:
    """A change's JSON answer: 202 with the outbox key, or why not (`_refused`)."""
    if isinstance(result, Queued):
        return QueuedOut(queued=True, key=result.key)
    return _refused(result, problem)


@router.post(
    "/cases/{portal_id}/notes",
    response_model=QueuedOut,
    status_code=202,
    responses={422: {"model": ProblemsOut}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.ADD_NOTE)
def add_note(request: Request, portal_id: str, note: NoteIn) -> QueuedOut | JSONResponse:
    """Queue a note for the CRM. 404 when the case is missing or not visible; 403 when the
    viewer may read but not change it."""
    visible = open_case(request, portal_id, Action.ADD_NOTE)
    result = casework.add_note(
        visible, note.text, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(result, "Check the note")


class ReasonIn(BaseModel):
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]


@router.post(
    "/cases/{portal_id}/close",
    response_model=QueuedOut,
    status_code=202,
    responses={409: {"model": ConflictOut}, 422: {"model": ProblemsOut}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.CLOSE)
def close_case(request: Request, portal_id: str, body: ReasonIn) -> QueuedOut | JSONResponse:
    """Queue closing the case, with the reason, for the CRM. 409 if it is already closed."""
    visible = open_case(request, portal_id, Action.CLOSE)
    result = casework.close_case(
        visible, body.reason, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(result, "Check the reason")


@router.post(
    "/cases/{portal_id}/reopen",
    response_model=QueuedOut,
    status_code=202,
    responses={409: {"model": ConflictOut}, 422: {"model": ProblemsOut}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.REOPEN)
def reopen_case(request: Request, portal_id: str, body: ReasonIn) -> QueuedOut | JSONResponse:
    """Queue reopening a closed case, with the reason, for the CRM. 409 if it is not closed."""
    visible = open_case(request, portal_id, Action.REOPEN)
    result = casework.reopen_case(
        visible, body.reason, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(result, "Check the reason")


@router.post(
    "/cases/{portal_id}/sharing",
    response_model=QueuedOut,
    status_code=202,
    responses={409: {"model": ConflictOut}, 422: {"model": ProblemsOut}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.MANAGE_CONSENT)
def change_sharing(request: Request, portal_id: str, body: SharingForm) -> QueuedOut | JSONResponse:
    """Change whom the case is shared with (`level`: private, ward, party, named; `named`
    needs `colleague_id`, and `until` ends the cover). Takes effect at once, queued for the
    CRM. Only the owner, their Members' Services staff and the team leader."""
    visible = open_case(request, portal_id, Action.MANAGE_CONSENT)
    portal = portal_of(request)
    result = casework.change_sharing(
        visible,
        body,
        viewer=signed_in(request),
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
    )
    return _answer(result)


@router.post(
    "/cases/{portal_id}/authority",
    response_model=QueuedOut,
    status_code=202,
    responses={409: {"model": ConflictOut}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.MANAGE_CONSENT)
def change_authority(
    request: Request, portal_id: str, body: AuthorityForm
) -> QueuedOut | JSONResponse:
    """Withdraw the constituent's authority (every colleague's and service's view ends at
    once) or record it again, with or without explicit consent for sensitive details."""
    visible = open_case(request, portal_id, Action.MANAGE_CONSENT)
    portal = portal_of(request)
    result = casework.change_authority(
        visible, body, viewer=signed_in(request), writes=portal.writes, now=portal.clock()
    )
    return _answer(result)


class ServiceIn(BaseModel):
    service_id: Annotated[str, Field(min_length=1, max_length=64)]


class SentOut(QueuedOut):
    response_due: date


@router.post(
    "/cases/{portal_id}/service",
    response_model=SentOut,
    status_code=202,
    responses={409: {"model": ConflictOut}, 422: {"description": "Unknown service"}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.SEND_TO_SERVICE)
def send_to_service(request: Request, portal_id: str, body: ServiceIn) -> SentOut | JSONResponse:
    """Send the case to a service from the directory; the reply is due after the service's
    response target in working days (bank holidays of the council's nation skipped)."""
    visible = open_case(request, portal_id, Action.SEND_TO_SERVICE)
    portal = portal_of(request)
    result = casework.send_to_service(
        visible,
        body.service_id,
        viewer=signed_in(request),
        contacts=portal.directory.service_contacts(),
        writes=portal.writes,
        now=portal.clock(),
        nation=portal.settings.bank_holiday_nation,
    )
    if isinstance(result, Queued) and result.response_due is not None:
        return SentOut(queued=True, key=result.key, response_due=result.response_due)
    return _refused(result, "Check the service")


@router.post(
    "/cases/{portal_id}/attachments",
    response_model=QueuedOut,
    status_code=202,
    responses={422: {"model": ProblemsOut}, 413: {"description": "Larger than allowed"}},
)
@allow(*CASE_ROLES, case_param="portal_id", action=Action.UPLOAD)
async def upload_attachment(
    request: Request,
    portal_id: str,
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> QueuedOut | JSONResponse:
    """Attach a file (multipart `file`, optional `text`) as a note queued for the CRM. PDF,
    PNG, JPEG, Word, Excel, text, .eml or .msg, checked by content; size limit configured."""
    visible = open_case(request, portal_id, Action.UPLOAD)
    filename, content = await read_upload(request, file)
    portal = portal_of(request)
    result = casework.attach_file(
        visible,
        filename,
        content,
        text,
        viewer=signed_in(request),
        writes=portal.writes,
        max_bytes=portal.settings.attachment_max_bytes,
    )
    return _answer(result, "Check the file")


class EnquiryCreatedOut(BaseModel):
    queued: bool
    portal_id: uuid.UUID


@router.post(
    "/enquiries",
    status_code=201,
    response_model=EnquiryCreatedOut,
    responses={422: {"description": "Each field's problem, by field name"}},
)
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def new_enquiry(request: Request, form: EnquiryForm) -> Response:
    """Record a new enquiry; it is queued for the CRM. Members' services name the member."""
    portal = portal_of(request)
    result = casework.record_enquiry(
        form,
        viewer=signed_in(request),
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
    )
    if isinstance(result, Invalid):
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
    name: str
    source: str
    crm_party_id: str | None
    email: str | None
    postcode: str | None
    previous: list[PreviousEnquiryOut]
    prefill: dict[str, str]


class ResidentQuery(BaseModel):
    text: Annotated[str, Field(max_length=200)]


@router.post("/residents/search", response_model=list[ResidentOut])
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def residents(request: Request, query: ResidentQuery) -> list[ResidentOut]:
    """Residents matching a name, postcode or email, from the index (with the earlier enquiries
    the viewer may see, their authority and sharing) and the CRM. `prefill` holds the new
    enquiry's fields to send for a picked resident. Posted, so no name is in the address."""
    q = query.text
    return [
        ResidentOut(
            name=match.name,
            source=match.source,
            crm_party_id=match.constituent.crm_party_id,
            email=match.constituent.email,
            postcode=match.constituent.location.postcode,
            previous=[
                PreviousEnquiryOut.model_validate(item, from_attributes=True)
                for item in match.previous
            ],
            prefill=match.prefill,
        )
        for match in deps.residents(request, q).matches
    ]


class SearchOut(BaseModel):
    cases: list[CaseRowOut]


class SearchIn(BaseModel):
    text: Annotated[str, Field(max_length=400)]


@router.post("/search", response_model=SearchOut)
@allow(*CASE_ROLES)
def search(request: Request, query: SearchIn) -> SearchOut:
    """Cases the viewer may see matching every word of `text` in fields they may see. Posted,
    so the words (often a resident's name) are never in an address or a log."""
    rows = deps.search(request, query.text)
    return SearchOut(cases=_rows(rows, portal_of(request).directory.names()))


class ServiceContactOut(BaseModel):
    service_id: str  # what `POST /api/v1/cases/{portal_id}/service` takes
    service: str
    officer: str
    email: str
    phone: str | None
    response_target_working_days: int


@router.get("/directory", response_model=list[ServiceContactOut])
@allow(*ALL_ROLES)
def directory(request: Request) -> list[ServiceContactOut]:
    """Council services, their member officer and response target."""
    return [
        ServiceContactOut.model_validate(contact, from_attributes=True)
        for contact in portal_of(request).directory.service_contacts()
    ]


@router.get("/health", response_model=HealthOut)
@allow(Role.ADMINISTRATOR)
def health(request: Request) -> HealthOut:
    portal = portal_of(request)
    portal.record(request, "view_health", Outcome.ALLOWED, subject_type="health")
    return HealthOut(
        checks=[
            HealthCheckOut(name=check.name, ok=check.ok, detail=check.detail)
            for check in portal.health()
        ]
    )
