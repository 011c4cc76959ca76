"""A service's reply to a case sent to it: what the service officer is shown to answer, and the
reply itself.

What a service officer sees is the access policy's (`access.visible_fields`,
`SERVICE_OFFICER_FIELDS`): what the issue is (title, category, description), where (the case's
location), the request to their service and when the reply is due, the case's priority and
target date, and whom to answer (the member and ward). Never the resident's name or contact
details, the member's notes, consent or sharing choices; the description only while the
resident's explicit consent is in force when it holds sensitive details (`SPECIAL_CATEGORY_FIELDS`).
`ResponseView` reads only those projected fields, so the page cannot show more.

The reply goes to the CRM as a note headed with the service's name (the CRM has no other kind
of reply, and a note read there or synced back says whose reply it is), and the case moves to
`responded` ("Service replied") with the service's open requests marked answered: one outbox
transaction (`CaseWrites.respond`), audited as `respond`. A service may reply more than once
(an answer, then "done"); a closed case, or a draft, takes no reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from mappings.model import CaseStatus, MemberCase
from portal_extensions.access import Action, Viewer
from portal_extensions.casework.auditing import record
from portal_extensions.casework.cases import VisibleCase, open_case
from portal_extensions.casework.notes import MAX_TEXT_LENGTH, text_problem
from portal_extensions.casework.ports import AuditTrail, CaseRepository, CaseWrites
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.store.audit import Outcome
from portal_extensions.store.directory import DirectoryNames

HEADING_ROOM = 300
"""Characters kept for the reply's heading ("Reply from <service>:"; a service name is at most
200), so the note the CRM is given stays within `MAX_TEXT_LENGTH`."""
MAX_RESPONSE_LENGTH = MAX_TEXT_LENGTH - HEADING_ROOM


@dataclass(frozen=True, slots=True)
class SentRequest:
    """One request to a service, as the officer reads it."""

    service: str
    sent_at: datetime
    response_due: date
    responded_at: datetime | None


@dataclass(frozen=True, slots=True)
class ResponseView:
    """What a service officer is shown to reply to a case: only fields they may see."""

    title: str
    crm_reference: str | None
    category: str
    service: str | None
    member: str | None
    ward: str | None
    priority: str | None
    received_at: datetime | None
    target_date: date | None
    description: str | None  # None: hidden (sensitive details without explicit consent)
    location: tuple[str, ...]  # address, postcode, UPRN, grid reference: what is known
    requests: tuple[SentRequest, ...]
    status: CaseStatus
    not_now: str | None  # why the case takes no reply now (closed, a draft), else None


def open_for_reply(
    viewer: Viewer,
    portal_id: str,
    *,
    cases: CaseRepository,
    audit: AuditTrail,
    now: datetime,
) -> VisibleCase:
    """The case as its service may see it, for the reply page: opened for `Action.RESPOND`
    (refusals audited there) and audited as a view, since showing the page changes nothing."""
    visible = open_case(viewer, portal_id, cases=cases, audit=audit, now=now, action=Action.RESPOND)
    record(
        audit,
        viewer,
        now,
        "view_case",
        Outcome.ALLOWED,
        subject_type="case",
        subject_id=str(visible.stored.case.portal_id),
        on_behalf_of=visible.on_behalf_of,
    )
    return visible


def _location(fields: dict[str, Any]) -> tuple[str, ...]:
    place = fields.get("location") or {}
    lines = [str(place[key]) for key in ("address", "postcode") if place.get(key)]
    if place.get("uprn"):
        lines.append(f"UPRN {place['uprn']}")
    if place.get("easting") is not None and place.get("northing") is not None:
        lines.append(f"Grid reference {place['easting']:.0f}, {place['northing']:.0f}")
    return tuple(lines)


def response_view(visible: VisibleCase, names: DirectoryNames) -> ResponseView:
    """The page's content, from the fields the viewer may see (`VisibleCase.fields`)."""
    fields = visible.fields
    case = visible.stored.case
    requests = tuple(
        SentRequest(
            names.service(item["service_id"]),
            datetime.fromisoformat(item["sent_at"]),
            date.fromisoformat(item["response_due"]),
            datetime.fromisoformat(item["responded_at"]) if item.get("responded_at") else None,
        )
        for item in fields.get("service_requests", [])
    )

    def named(key: str, name: Any) -> str | None:
        value = fields.get(key)
        return str(name(str(value))) if value else None

    received = fields.get("received_at")
    target = fields.get("target_date")
    priority = fields.get("priority")
    return ResponseView(
        title=str(fields.get("title", "")),
        crm_reference=fields.get("crm_reference"),
        category=named("category", names.category) or "",
        service=named("service_id", names.service),
        member=named("member_id", names.member),
        ward=named("ward_id", names.ward),
        priority=str(priority).replace("_", " ").capitalize() if priority else None,
        received_at=datetime.fromisoformat(received) if received else None,
        target_date=date.fromisoformat(target) if target else None,
        description=fields.get("description"),
        location=_location(fields),
        requests=requests,
        status=case.status,
        not_now=why_no_reply(case),
    )


def why_no_reply(case: MemberCase) -> str | None:
    """Why the case takes no reply in its present state, or None when it does."""
    if case.status is CaseStatus.CLOSED:
        return "This case is closed, so it needs no reply"
    if case.status is CaseStatus.DRAFT:
        return "This case is a draft the councillor has not sent yet, so it takes no reply"
    return None


def responded_case(case: MemberCase, service_id: str, now: datetime) -> MemberCase:
    """The case once `service_id` has replied: `responded`, that service's unanswered requests
    answered now. A reopened case that was closed before is no longer reopened, so it keeps no
    closed time (the model allows one on a reopened case only); its closing stays on the
    timeline."""
    requests = [
        request.model_copy(update={"responded_at": now})
        if request.service_id == service_id and request.responded_at is None
        else request
        for request in case.service_requests
    ]
    changed = case.model_dump()
    changed.update(
        status=CaseStatus.RESPONDED,
        service_requests=[request.model_dump() for request in requests],
        closed_at=None,
    )
    return MemberCase.model_validate(changed)


def respond(
    visible: VisibleCase,
    text: str,
    *,
    viewer: Viewer,
    names: DirectoryNames,
    writes: CaseWrites,
    now: datetime,
) -> ChangeResult:
    """Queue the service's reply on a case opened with `Action.RESPOND`. A closed case is a
    conflict; a missing or overlong reply is reported as `response`."""
    case = visible.stored.case
    refusal = why_no_reply(case)
    if refusal is not None:
        return Conflict(refusal)
    text = text.strip()
    problem = text_problem(text, "Enter your service's reply")
    if problem is None and len(text) > MAX_RESPONSE_LENGTH:
        problem = f"The reply must be {MAX_RESPONSE_LENGTH:,} characters or fewer"
    if problem:
        return Invalid({"response": problem})
    # The access policy lets a service officer see only cases sent to one of their services.
    service_id = case.service_id
    assert service_id is not None and service_id in viewer.service_ids
    note = f"Reply from {names.service(service_id)}:\n\n{text}"
    key = writes.respond(responded_case(case, service_id, now), note, actor=viewer.user_id)
    return Queued(case.portal_id, key)


__all__ = [
    "MAX_RESPONSE_LENGTH",
    "ResponseView",
    "SentRequest",
    "open_for_reply",
    "respond",
    "responded_case",
    "response_view",
    "why_no_reply",
]
