"""The HTML pages. Each works without JavaScript; forms post back to themselves and, when they
fail, come back with every typed value kept and each error beside its field."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from mappings.model import COUNCIL_ZONE, CaseStatus, SharingLevel
from portal_extensions import casework
from portal_extensions.access import Action, Role, members_for_new_case
from portal_extensions.casework import downloads
from portal_extensions.casework.cases import (
    VisibleCase,
    page_whose_choices,
    parse_bucket,
    parse_whose,
)
from portal_extensions.casework.consent import AuthorityForm, SharingForm
from portal_extensions.casework.enquiries import CHANNEL_TEXT, SHARING_TEXT, EnquiryForm
from portal_extensions.casework.lookup import ResidentMatch
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid
from portal_extensions.casework.search import SEARCH_LIMIT
from portal_extensions.casework.timeline import own_pending, timeline
from portal_extensions.casework.wording import council_date
from portal_extensions.config import SignInMode
from portal_extensions.store.audit import Outcome
from portal_extensions.store.case_types import Bucket, CaseListing, CaseSummary, Whose
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.web.app import (
    ALL_ROLES,
    CASE_ROLES,
    NotFound,
    allow,
    end_session,
    guard,
    message_page,
    portal_of,
    public,
    render,
    start_session,
    viewer_of,
)
from portal_extensions.web.auth import check_password
from portal_extensions.web.deps import (
    list_cases,
    open_case,
    read_upload,
    residents,
    search,
    signed_in,
)
from portal_extensions.web.downloads import content_disposition
from portal_extensions.web.forms import parse_day

BUCKET_LABELS = {
    Bucket.OPEN: "Open",
    Bucket.OVERDUE: "Overdue",
    Bucket.AWAITING_SERVICE: "Awaiting a service reply",
    Bucket.RECENTLY_CLOSED: "Recently closed",
}
LIST_HEADINGS = {
    Role.MEMBER: "My caseload",
    Role.MEMBERS_SERVICES: "Cases of the members you support",
    Role.TEAM_LEADER: "All cases",
    Role.SERVICE_OFFICER: "Cases sent to your service",
}

# The guard is also app-wide; FastAPI caches it per request, so it runs once.
router = APIRouter(include_in_schema=False, dependencies=[Depends(guard)])


def safe_next(value: str | None) -> str:
    """Only a path on this site: never another host (an open redirect helps phishing).

    Browsers drop tabs and newlines and read a backslash as a slash, so `/\t/evil.example`
    would leave the site: any control character, space or backslash refuses the target.
    """
    if (
        not value
        or not value.startswith("/")
        or value.startswith("//")
        or any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


@router.get("/")
@public
def home(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return RedirectResponse("/sign-in", status_code=303)
    return RedirectResponse(
        "/health" if viewer.role is Role.ADMINISTRATOR else "/caseload", status_code=303
    )


def _sign_in_page(
    request: Request,
    *,
    status_code: int = 200,
    username: str = "",
    next_path: str = "/",
    field_errors: dict[str, str] | None = None,
    throttled_message: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    field_errors = field_errors or {}
    errors = [{"text": text, "href": f"#{name}"} for name, text in field_errors.items()]
    if throttled_message:
        errors.append({"text": throttled_message, "href": "#username"})
    return render(
        request,
        "sign_in.html",
        {
            "sso_only": portal_of(request).settings.sign_in_mode is SignInMode.TRUSTED_HEADER,
            "values": {"username": username},
            "next_path": safe_next(next_path),
            "field_errors": field_errors,
            "throttled_message": throttled_message,
            "errors": errors,
        },
        status_code,
        headers,
    )


@router.get("/sign-in")
@public
def sign_in_form(request: Request, next: str = "/") -> Response:
    if viewer_of(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _sign_in_page(request, next_path=next)


@router.post("/sign-in")
@public
def sign_in(
    request: Request,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    portal = portal_of(request)
    if portal.settings.sign_in_mode is SignInMode.TRUSTED_HEADER:
        return _sign_in_page(request, status_code=403)
    username = username.strip()
    field_errors: dict[str, str] = {}
    if not username:
        field_errors["username"] = "Enter your user name"
    if not password:
        field_errors["password"] = "Enter your password"  # noqa: S105 (a message)
    if field_errors:
        return _sign_in_page(
            request, status_code=422, username=username, next_path=next, field_errors=field_errors
        )
    address = request.client.host if request.client else "unknown"
    wait = portal.throttle.retry_after(username, address)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        portal.record(
            request, "sign_in", Outcome.REFUSED, subject_type="session", actor="(throttled)"
        )
        return _sign_in_page(
            request,
            status_code=429,
            username=username,
            next_path=next,
            throttled_message=(
                "There have been too many failed attempts to sign in. Wait"
                f" {minutes} minute{'s' if minutes != 1 else ''} and try again."
            ),
            headers={"Retry-After": str(int(wait) + 1)},
        )
    account = check_password(portal.accounts, username, password)
    if account is None:
        portal.throttle.failed(username, address)
        known = portal.accounts.by_username(username)
        portal.record(
            request,
            "sign_in",
            Outcome.REFUSED,
            subject_type="session",
            actor=known.viewer.user_id if known else "(unknown user name)",
        )
        return _sign_in_page(
            request,
            status_code=401,
            username=username,
            next_path=next,
            field_errors={"password": "The user name or password is not right"},
        )
    portal.throttle.succeeded(username)
    start_session(request, account.viewer.user_id)  # nothing from before sign-in carries over
    portal.record(
        request, "sign_in", Outcome.ALLOWED, subject_type="session", actor=account.viewer.user_id
    )
    return RedirectResponse(safe_next(next), status_code=303)


@router.post("/sign-out")
@public
def sign_out(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is not None:
        portal_of(request).record(request, "sign_out", Outcome.ALLOWED, subject_type="session")
    end_session(request)
    return RedirectResponse("/sign-in", status_code=303)


def _listing_page(
    request: Request,
    *,
    heading: str,
    list_path: str,
    view: str | None,
    offset: int,
    ward_id: str | None = None,
    ward_choices: list[dict[str, str]] | None = None,
    whose: Whose = Whose.ALL,
) -> Response:
    bucket = parse_bucket(view)
    listing = list_cases(request, bucket, offset, ward_id, whose)
    portal = portal_of(request)
    size = portal.page_size
    offset = max(offset, 0)
    scope = {"ward": ward_id} if ward_choices else {}
    if whose is Whose.COVERING:
        scope["whose"] = whose.value
    return render(
        request,
        "caseload.html",
        {
            "heading": heading,
            "list_path": list_path,
            "scope_query": urlencode(scope) + "&" if scope else "",
            "ward": ward_id,
            "ward_choices": ward_choices or [],
            "whose_tabs": _whose_tabs(list_path, bucket, whose, listing),
            "buckets": [
                {
                    "value": each.value,
                    "label": BUCKET_LABELS[each],
                    "count": listing.counts[each],
                    "current": each is bucket,
                }
                for each in Bucket
            ],
            "current": bucket.value,
            "current_label": BUCKET_LABELS[bucket],
            "rows": listing.rows,
            "names": portal.directory.names(),
            "total": listing.total,
            "previous_offset": max(offset - size, 0) if offset > 0 else None,
            "next_offset": offset + size if offset + size < listing.total else None,
        },
    )


def _whose_tabs(
    list_path: str, bucket: Bucket, whose: Whose, listing: CaseListing
) -> list[dict[str, Any]]:
    """A member's links between their own cases and the colleagues' cases they cover, keeping
    the group (open, overdue...) chosen. None while they cover no open case and are looking at
    their own, so a member who covers nobody sees the page as before."""
    if whose is Whose.OWN:
        covered = listing.other_counts.get(Whose.COVERING, {}).get(Bucket.OPEN, 0)
    elif whose is Whose.COVERING:
        covered = listing.counts[Bucket.OPEN]
    else:
        return []
    if whose is Whose.OWN and covered == 0:
        return []
    return [
        {
            "label": "Your cases",
            "href": f"{list_path}?{urlencode({'view': bucket.value})}",
            "current": whose is Whose.OWN,
        },
        {
            "label": f"Covering for colleagues ({covered})",
            "href": f"{list_path}?{urlencode({'whose': 'covering', 'view': bucket.value})}",
            "current": whose is Whose.COVERING,
        },
    ]


@router.get("/caseload")
@allow(*CASE_ROLES)
def caseload(
    request: Request, view: str | None = None, offset: int = 0, whose: str | None = None
) -> Response:
    """The viewer's cases. A member sees their own, and the cases they cover for colleagues on
    a list of its own (`?whose=covering`); other roles see every case they may."""
    viewer = signed_in(request)
    return _listing_page(
        request,
        heading=LIST_HEADINGS[viewer.role],
        list_path="/caseload",
        view=view,
        offset=offset,
        whose=parse_whose(whose, page_whose_choices(viewer)),
    )


@router.get("/ward")
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def ward_view(
    request: Request, ward: str | None = None, view: str | None = None, offset: int = 0
) -> Response:
    """A ward's cases that the viewer may see: their own and what colleagues shared."""
    viewer = signed_in(request)
    if viewer.role is Role.MEMBER:
        return _listing_page(
            request,
            heading=f"Your ward: {portal_of(request).directory.names().ward(viewer.ward_id)}"
            if viewer.ward_id
            else "Your ward",
            list_path="/ward",
            view=view,
            offset=offset,
            ward_id=viewer.ward_id,
        )
    portal = portal_of(request)
    names = portal.directory.names()
    wards = sorted(
        {member.ward_id for member in portal.enquiry_options.members()},
        key=lambda ward_id: names.ward(ward_id).casefold(),
    )
    chosen = ward if ward in wards else (wards[0] if wards else None)
    if chosen is None:
        raise NotFound
    return _listing_page(
        request,
        heading=f"Ward: {names.ward(chosen)}",
        list_path="/ward",
        view=view,
        offset=offset,
        ward_id=chosen,
        ward_choices=[{"value": w, "text": names.ward(w)} for w in wards],
    )


def _summary_rows(fields: dict[str, Any], names: DirectoryNames) -> list[dict[str, Any]]:
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
        rows.append(("Target date", council_date(date.fromisoformat(fields["target_date"]))))
    if "sharing" in fields:
        level = fields["sharing"]["level"]
        colleague = fields["sharing"].get("colleague_id")
        rows.append(
            (
                "Shared with",
                {
                    "private": "Nobody else",
                    "ward": "Ward colleagues",
                    "party": "Ward colleagues of the same party",
                    "named": f"{names.member(colleague)} (named colleague)"
                    if colleague
                    else "A named colleague",
                }.get(level, level),
            )
        )
    return [{"key": {"text": key}, "value": {"text": value}} for key, value in rows]


FIELD_IDS = {
    "note": "note-text",
    "close": "close-reason",
    "reopen": "reopen-reason",
    "sharing": "sharing",
    "colleague_id": "colleague_id",
    "cover_until": "cover_until",
    "file": "file",
    "service_id": "service_id",
}


def _service_request_rows(fields: dict[str, Any], names: DirectoryNames) -> list[str]:
    rows = []
    for item in fields.get("service_requests", []):
        sent = datetime.fromisoformat(item["sent_at"]).astimezone(COUNCIL_ZONE)
        due = council_date(date.fromisoformat(item["response_due"]))
        name = names.service(item["service_id"])
        answered = " (answered)" if item.get("responded_at") else ""
        rows.append(f"Sent to {name} on {council_date(sent)}, reply due {due}{answered}")
    return rows


def _authority_text(case: Any) -> str:
    authority = case.authority
    if authority is None:
        return "Not recorded"
    if authority.withdrawn_at is not None:
        return f"Withdrawn on {council_date(authority.withdrawn_at.astimezone(COUNCIL_ZONE))}"
    recorded = council_date(authority.recorded_at.astimezone(COUNCIL_ZONE))
    consent = " with explicit consent for sensitive details" if authority.explicit_consent else ""
    return f"Given on {recorded}{consent}"


def _case_response(
    request: Request,
    visible: VisibleCase,
    *,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    field_errors: dict[str, str] | None = None,
) -> Response:
    fields = visible.fields
    facts = visible.stored.facts
    case = visible.stored.case
    field_errors = field_errors or {}
    portal = portal_of(request)
    names = portal.directory.names()
    pending = own_pending(visible, portal.writes.pending(case.portal_id), signed_in(request))
    can_manage = Action.MANAGE_CONSENT in visible.actions
    sharing_values = {
        "sharing": case.sharing.level.value,
        "colleague_id": case.sharing.colleague_id or "",
        **_day_values(case.sharing.until),
    }
    sharing_values.update(typed or {})
    entries = timeline(visible, pending, names, crm_files=portal.attachments is not None)
    return render(
        request,
        "case.html",
        {
            "can_manage_consent": can_manage,
            "authority_in_force": case.authority is not None and case.authority.in_force,
            "can_record_authority": can_manage
            and not (facts.authority_in_force and facts.explicit_consent),
            "authority_text": _authority_text(case) if can_manage else "",
            "sharing_values": sharing_values,
            "sharing_items": [{"value": s.value, "text": t} for s, t in SHARING_TEXT.items()],
            "colleague_choices": [
                {"value": m.id, "text": m.name}
                for m in portal.enquiry_options.members()
                if m.id != case.member_id
            ]
            if can_manage
            else [],
            "case": fields,
            "portal_id": str(case.portal_id),
            "queued": visible.stored.queued,
            "withdrawn": facts.authority_withdrawn_at is not None,
            "hidden_special": facts.special_category and "description" not in fields,
            "summary_rows": _summary_rows(fields, names),
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
            "can_close": Action.CLOSE in visible.actions and case.is_open,
            "can_reopen": Action.REOPEN in visible.actions and case.status is CaseStatus.CLOSED,
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


def _answer(
    request: Request,
    visible: VisibleCase,
    result: ChangeResult,
    typed: dict[str, str],
    *,
    anchor: str = "#timeline",
) -> Response:
    """A change's page answer: back to the case when queued, the case with each problem beside
    its field (and what was typed kept), or a conflict page when nothing could change."""
    if isinstance(result, Conflict):
        return _conflict(request, result.message, visible.stored.case.portal_id)
    if isinstance(result, Invalid):
        return _case_response(
            request, visible, status_code=422, typed=typed, field_errors=result.errors
        )
    return RedirectResponse(f"/cases/{result.case_id}{anchor}", status_code=303)


@router.get("/cases/{portal_id}")
@allow(*CASE_ROLES, case_param="portal_id")
def case_page(request: Request, portal_id: str) -> Response:
    return _case_response(request, open_case(request, portal_id))


@router.post("/cases/{portal_id}/notes")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.ADD_NOTE)
def add_note(
    request: Request,
    portal_id: str,
    text: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> Response:
    visible = open_case(request, portal_id, Action.ADD_NOTE)
    result = casework.add_note(
        visible, text, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(request, visible, result, {"note": text.strip()})


@router.post("/cases/{portal_id}/attachments")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.UPLOAD)
async def upload_attachment(
    request: Request,
    portal_id: str,
    file: Annotated[UploadFile | None, File()] = None,
    text: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> Response:
    """Attach a file (checked by its content) to the case, as a note queued for the CRM."""
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
    return _answer(request, visible, result, {"file_note": text.strip()})


@router.get("/cases/{portal_id}/attachments/{document_id}")
@allow(*CASE_ROLES, case_param="portal_id")
def download_attachment(request: Request, portal_id: str, document_id: str) -> Response:
    """A file stored with the case, as a download (never shown inline), for viewers who may
    see the case's notes. Anything else is 'not found'."""
    visible = open_case(request, portal_id)
    portal = portal_of(request)
    found = downloads.stored_file(
        visible,
        document_id,
        viewer=signed_in(request),
        source=portal.attachments,
        audit=portal.audit,
        now=portal.clock(),
    )
    return _download(found)


def _download(found: downloads.Download) -> Response:
    """A file as a download: never shown inline, never cached, never sniffed (the app's
    headers add `nosniff`)."""
    return Response(
        found.content,
        media_type=found.media_type,
        headers={
            "Content-Disposition": content_disposition(found.name),
            "Cache-Control": "no-store",
        },
    )


@router.get("/cases/{portal_id}/queued-files/{file_id}")
@allow(*CASE_ROLES, case_param="portal_id")
def download_queued_file(request: Request, portal_id: str, file_id: str) -> Response:
    """A file uploaded through the portal that the CRM has not confirmed yet, from the outbox:
    for the uploader and for viewers who may see the case's notes (as confirmed files).
    Anything else is 'not found'."""
    visible = open_case(request, portal_id)
    portal = portal_of(request)
    found = downloads.queued_file(
        visible,
        file_id,
        viewer=signed_in(request),
        writes=portal.writes,
        audit=portal.audit,
        now=portal.clock(),
    )
    return _download(found)


@router.post("/cases/{portal_id}/service")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.SEND_TO_SERVICE)
def send_to_service_page(
    request: Request,
    portal_id: str,
    service_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Send the case to a service; the reply is due after the service's response target."""
    visible = open_case(request, portal_id, Action.SEND_TO_SERVICE)
    portal = portal_of(request)
    result = casework.send_to_service(
        visible,
        service_id,
        viewer=signed_in(request),
        contacts=portal.directory.service_contacts(),
        writes=portal.writes,
        now=portal.clock(),
        nation=portal.settings.bank_holiday_nation,
    )
    return _answer(request, visible, result, {"service_id": service_id})


@router.post("/cases/{portal_id}/close")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.CLOSE)
def close_case(
    request: Request,
    portal_id: str,
    reason: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> Response:
    visible = open_case(request, portal_id, Action.CLOSE)
    result = casework.close_case(
        visible, reason, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(request, visible, result, {"close": reason.strip()})


@router.post("/cases/{portal_id}/reopen")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.REOPEN)
def reopen_case(
    request: Request,
    portal_id: str,
    reason: Annotated[str, Form(max_length=MAX_TEXT_LENGTH * 2)] = "",
) -> Response:
    visible = open_case(request, portal_id, Action.REOPEN)
    result = casework.reopen_case(
        visible, reason, viewer=signed_in(request), writes=portal_of(request).writes
    )
    return _answer(request, visible, result, {"reopen": reason.strip()})


def _day_values(value: date | None) -> dict[str, str]:
    if value is None:
        return {"cover_until_day": "", "cover_until_month": "", "cover_until_year": ""}
    return {
        "cover_until_day": str(value.day),
        "cover_until_month": str(value.month),
        "cover_until_year": str(value.year),
    }


@router.post("/cases/{portal_id}/sharing")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.MANAGE_CONSENT)
def change_sharing_page(
    request: Request,
    portal_id: str,
    sharing: Annotated[str, Form(max_length=20)] = "",
    colleague_id: Annotated[str, Form(max_length=64)] = "",
    cover_until_day: Annotated[str, Form(alias="cover_until-day", max_length=10)] = "",
    cover_until_month: Annotated[str, Form(alias="cover_until-month", max_length=10)] = "",
    cover_until_year: Annotated[str, Form(alias="cover_until-year", max_length=10)] = "",
) -> Response:
    """Change whom the case is shared with (and a named cover colleague's end date)."""
    visible = open_case(request, portal_id, Action.MANAGE_CONSENT)
    portal = portal_of(request)
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
        viewer=signed_in(request),
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
        input_errors={"cover_until": day_problem}
        if day_problem and sharing == SharingLevel.NAMED.value
        else None,
    )
    return _answer(request, visible, result, typed)


@router.post("/cases/{portal_id}/authority")
@allow(*CASE_ROLES, case_param="portal_id", action=Action.MANAGE_CONSENT)
async def change_authority_page(request: Request, portal_id: str) -> Response:
    """Withdraw the constituent's authority (effective at once), or record it again."""
    posted = await request.form()
    decision = posted.get("decision")
    visible = open_case(request, portal_id, Action.MANAGE_CONSENT)
    try:
        form = AuthorityForm(
            decision=decision if isinstance(decision, str) else "",
            explicit_consent="explicit_consent" in posted.getlist("consent"),
        )
    except ValidationError:
        return message_page(
            request, 400, "There is a problem with the form", ["Go back and try again."]
        )
    portal = portal_of(request)
    result = casework.change_authority(
        visible, form, viewer=signed_in(request), writes=portal.writes, now=portal.clock()
    )
    return _answer(request, visible, result, {})


ERROR_ANCHORS = {
    "channel": "channel",
    "sharing": "sharing",
    "explicit_consent": "consent",
    "cover_until": "cover_until",
}


def _enquiry_page(
    request: Request,
    form: EnquiryForm,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
    *,
    days: dict[str, str] | None = None,
    find: str = "",
    residents: list[ResidentMatch] | None = None,
    crm_unavailable: bool = False,
    crm_connected: bool = True,
) -> Response:
    portal = portal_of(request)
    viewer = signed_in(request)
    options = portal.enquiry_options
    field_errors = field_errors or {}
    members = options.members()
    choosable = members_for_new_case(viewer, [member.id for member in members])
    names = {member.id: member.name for member in members}
    return render(
        request,
        "new_enquiry.html",
        {
            "values": {
                **form.model_dump(),
                **(days if days is not None else _day_values(_iso_day(form.cover_until))),
            },
            "find": find,
            "looked_up": bool(find.strip()),
            "residents": residents or [],
            "crm_unavailable": crm_unavailable,
            "crm_connected": crm_connected,
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


@router.get("/enquiries/new")
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def new_enquiry_form(request: Request) -> Response:
    return _enquiry_page(request, EnquiryForm())


# The look-up and the pick are posted, not sent in the address: a resident's name, email or
# postcode must not end up in web server logs, proxies or browser history.
@router.post("/enquiries/new/find")
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
def find_resident(request: Request, find: Annotated[str, Form(max_length=400)] = "") -> Response:
    """The form, with the residents matching `find` (and their earlier enquiries) above it."""
    result = residents(request, find)
    return _enquiry_page(
        request,
        EnquiryForm(),
        find=find[:200],
        residents=result.matches,
        crm_unavailable=result.crm_unavailable,
        crm_connected=result.crm_connected,
    )


@router.post("/enquiries/new/prefill")
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
async def pick_resident(request: Request) -> Response:
    """The form filled in with a picked resident's details and standing choices."""
    posted = await request.form()
    prefill = {
        name: value
        for name in PREFILL_FIELDS
        if isinstance(value := posted.get(name), str) and value
    }
    try:
        form = EnquiryForm.model_validate(
            {
                **{k: v for k, v in prefill.items() if k != "explicit_consent"},
                "explicit_consent": "explicit_consent" in prefill,
            }
        )
    except ValidationError:
        form = EnquiryForm()
    return _enquiry_page(request, form)


PREFILL_FIELDS = frozenset(
    {
        "crm_party_id",
        "forename",
        "surname",
        "email",
        "phone",
        "postcode",
        "sharing",
        "explicit_consent",
    }
)


def _iso_day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.post("/enquiries/new")
@allow(Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER)
async def new_enquiry(request: Request) -> Response:
    posted = await request.form()
    ticked = set(posted.getlist("consent"))
    texts = {
        name: value
        for name in EnquiryForm.model_fields
        if isinstance(value := posted.get(name), str)
    }
    days = {  # the GOV.UK date input names its boxes `cover_until-day` and so on
        f"cover_until_{part}": value[:10]
        if isinstance(value := posted.get(f"cover_until-{part}"), str)
        else ""
        for part in ("day", "month", "year")
    }
    until, day_problem = parse_day(
        days["cover_until_day"], days["cover_until_month"], days["cover_until_year"]
    )
    try:
        form = EnquiryForm.model_validate(
            {
                **texts,
                "cover_until": until.isoformat() if until else "",
                "special_category": "special_category" in ticked,
                "explicit_consent": "explicit_consent" in ticked,
            }
        )
    except ValidationError:
        return message_page(
            request, 400, "There is a problem with the form", ["Go back and try again."]
        )
    portal = portal_of(request)
    result = casework.record_enquiry(
        form,
        viewer=signed_in(request),
        options=portal.enquiry_options,
        writes=portal.writes,
        now=portal.clock(),
        input_errors={"cover_until": day_problem}
        if day_problem and form.sharing == SharingLevel.NAMED.value
        else None,
    )
    if isinstance(result, Invalid):
        return _enquiry_page(request, form, result.errors, 422, days=days)
    return RedirectResponse(f"/cases/{result.case_id}", status_code=303)


# The words are posted, never put in the address: they are often a resident's name, which must
# not reach browser history, web server or proxy logs. The results page is the POST's answer.
@router.get("/search")
@allow(*CASE_ROLES)
def search_form(request: Request) -> Response:
    return _search_page(request, "", [])


@router.post("/search")
@allow(*CASE_ROLES)
def search_page(request: Request, q: Annotated[str, Form(max_length=400)] = "") -> Response:
    return _search_page(request, q, search(request, q))


def _search_page(request: Request, query: str, rows: list[CaseSummary]) -> Response:
    return render(
        request,
        "search.html",
        {
            "query": query[:200],
            "searched": bool(query.strip()),
            "rows": rows,
            "names": portal_of(request).directory.names(),
            "limit": SEARCH_LIMIT,
        },
    )


@router.get("/directory")
@allow(*ALL_ROLES)
def directory_page(request: Request) -> Response:
    contacts = portal_of(request).directory.service_contacts()
    return render(request, "directory.html", {"contacts": contacts})


@router.get("/health")
@allow(Role.ADMINISTRATOR)
def health_page(request: Request) -> Response:
    portal = portal_of(request)
    checks = list(portal.health())
    rows = [
        {"key": {"text": "Portal"}, "value": {"text": "Running"}},
        *[
            {
                "key": {"text": check.name},
                "value": {"text": ("Working" if check.ok else "Not working") + f": {check.detail}"},
            }
            for check in checks
        ],
    ]
    portal.record(request, "view_health", Outcome.ALLOWED, subject_type="health")
    return render(request, "health.html", {"rows": rows})


@router.get("/assets/{name}")
@public
def asset(request: Request, name: str) -> Response:
    found = portal_of(request).assets.get(name)
    if found is None:
        raise NotFound
    headers = {"ETag": found.etag, "Cache-Control": "public, max-age=3600"}
    if request.headers.get("if-none-match") == found.etag:
        return Response(status_code=304, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)


__all__ = ["router"]
