"""The caseload record model: what Caseload means by a case, a constituent, consent and so on.

Every record that crosses a boundary (CRM mapping, store, forms, API) is one of these pydantic
models, so an invalid state is refused in one place with a message a person can act on.
Times are timezone-aware; a naive time is taken to be in the council's zone (Europe/London).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    model_validator,
)

COUNCIL_ZONE = ZoneInfo("Europe/London")


def _aware(value: Any) -> Any:
    """Attach the council's zone to a naive time; leave aware times and non-times alone."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value  # pydantic reports the bad value with its own message
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=COUNCIL_ZONE)
    return value


CouncilTime = Annotated[datetime, BeforeValidator(_aware)]
"""A timezone-aware time; naive input is read as Europe/London."""


def _before(earlier: datetime, later: datetime) -> bool:
    """True if `earlier` is an earlier instant than `later`.

    Aware times that share a tzinfo compare by wall clock in Python, which gets the autumn's
    repeated hour wrong; comparing in UTC compares instants.
    """
    return earlier.astimezone(UTC) < later.astimezone(UTC)


_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][A-Z]{2})$")


def _normalise_postcode(value: str) -> str:
    match = _POSTCODE.match(value.strip().upper())
    if not match:
        # The value stays out of the message: a postcode is personal data in an error log.
        raise ValueError("is not a UK postcode (expected something like 'AB1 2CD')")
    return f"{match.group(1)} {match.group(2)}"


Postcode = Annotated[str, AfterValidator(_normalise_postcode)]
Uprn = Annotated[str, Field(pattern=r"^[0-9]{1,12}$", description="Unique Property Reference")]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(max_length=20_000)]
RecordId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:@-]+$")]


class Channel(StrEnum):
    """How the enquiry reached the member."""

    SURGERY = "surgery"
    EMAIL = "email"
    PHONE = "phone"
    LETTER = "letter"
    STREET = "street"
    ONLINE = "online"


class RaisedBy(StrEnum):
    """Whose enquiry it is (councils report MP/MSP/MS/MEP enquiries separately)."""

    COUNCILLOR = "councillor"
    MP = "mp"
    MSP = "msp"
    MS = "ms"
    MEP = "mep"
    STAFF = "staff"  # Members' Services staff on a member's behalf


class CaseStatus(StrEnum):
    DRAFT = "draft"
    QUEUED = "queued"  # written locally, not yet confirmed by the CRM
    OPEN = "open"
    WITH_SERVICE = "with_service"
    RESPONDED = "responded"  # the service replied; the problem may not be fixed yet
    CLOSED = "closed"
    REOPENED = "reopened"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class SharingLevel(StrEnum):
    """Who besides the member may see the case, as the constituent chose."""

    PRIVATE = "private"
    WARD = "ward"  # every councillor of the ward
    PARTY = "party"  # ward colleagues of the member's own party
    NAMED = "named"  # one named colleague (cover), until a date


class LawfulBasis(StrEnum):
    """UK GDPR Article 6 basis on which the member holds the constituent's data."""

    CONSENT = "consent"
    PUBLIC_TASK = "public_task"
    LEGITIMATE_INTERESTS = "legitimate_interests"
    LEGAL_OBLIGATION = "legal_obligation"
    VITAL_INTERESTS = "vital_interests"


class AuthorityScope(StrEnum):
    """What the constituent authorised the member to act on."""

    THIS_ENQUIRY = "this_enquiry"
    RELATED_ENQUIRIES = "related_enquiries"
    ALL_ENQUIRIES = "all_enquiries"


class NoteKind(StrEnum):
    NOTE = "note"
    SERVICE_RESPONSE = "service_response"
    STATUS_CHANGE = "status_change"
    CORRESPONDENCE = "correspondence"


class Record(BaseModel):
    """Base for every caseload record: unknown fields are refused, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, validate_assignment=True)


class Location(Record):
    address: LongText | None = None
    postcode: Postcode | None = None
    uprn: Uprn | None = None
    # British National Grid, as UK council CRMs hold them.
    easting: Annotated[float, Field(ge=0, le=700_000)] | None = None
    northing: Annotated[float, Field(ge=0, le=1_300_000)] | None = None

    @model_validator(mode="after")
    def _both_coordinates_or_neither(self) -> Self:
        if (self.easting is None) != (self.northing is None):
            raise ValueError("a location needs both easting and northing, or neither")
        return self


class Constituent(Record):
    crm_party_id: RecordId | None = None
    title: Annotated[str, Field(max_length=20)] | None = None
    forename: Annotated[str, Field(max_length=100)] | None = None
    surname: ShortText
    email: EmailStr | None = None
    phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None
    location: Location = Field(default_factory=Location)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.title, self.forename, self.surname) if part)


class Authority(Record):
    """The constituent's authority for the member to act, and consent for special categories."""

    recorded_by: RecordId
    recorded_at: CouncilTime
    scope: AuthorityScope = AuthorityScope.THIS_ENQUIRY
    lawful_basis: LawfulBasis = LawfulBasis.PUBLIC_TASK
    explicit_consent: bool = False  # needed before special-category details may be shown
    withdrawn_at: CouncilTime | None = None

    @model_validator(mode="after")
    def _withdrawn_after_recorded(self) -> Self:
        if self.withdrawn_at is not None and _before(self.withdrawn_at, self.recorded_at):
            raise ValueError("authority cannot be withdrawn before it was recorded")
        return self

    @property
    def in_force(self) -> bool:
        return self.withdrawn_at is None


class Sharing(Record):
    level: SharingLevel = SharingLevel.PRIVATE
    colleague_id: RecordId | None = None
    until: date | None = None

    @model_validator(mode="after")
    def _named_needs_colleague(self) -> Self:
        if self.level is SharingLevel.NAMED and self.colleague_id is None:
            raise ValueError("sharing with a named colleague needs colleague_id")
        if self.level is not SharingLevel.NAMED and (self.colleague_id or self.until):
            raise ValueError("colleague_id and until apply only to sharing level 'named'")
        return self


class AttachmentRef(Record):
    crm_document_id: RecordId | None = None
    filename: ShortText
    media_type: Annotated[str, Field(pattern=r"^[\w.+-]+/[\w.+-]+$")]
    size_bytes: Annotated[int, Field(ge=0)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class Note(Record):
    crm_note_id: RecordId | None = None
    kind: NoteKind = NoteKind.NOTE
    author: ShortText
    text: LongText
    created_at: CouncilTime
    attachments: list[AttachmentRef] = Field(default_factory=list)


class Officer(Record):
    id: RecordId
    name: ShortText
    email: EmailStr
    phone: str | None = None
    service_id: RecordId | None = None


class Service(Record):
    id: RecordId
    name: ShortText
    member_officer: Officer
    response_target_working_days: Annotated[int, Field(ge=1, le=90)]


class Category(Record):
    """One entry of the CRM's case-category code book, as the enquiry form offers it."""

    code: Annotated[str, Field(min_length=1, max_length=64)]
    name: ShortText
    group: Annotated[str, Field(max_length=200)] | None = None


class Ward(Record):
    id: RecordId
    name: ShortText


class Member(Record):
    id: RecordId
    name: ShortText
    party: ShortText
    ward_id: RecordId
    email: EmailStr | None = None


class ServiceRequest(Record):
    """A case sent to a service for a response by a deadline."""

    service_id: RecordId
    officer_id: RecordId | None = None
    sent_at: CouncilTime
    response_due: date
    responded_at: CouncilTime | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Self:
        if self.response_due < self.sent_at.astimezone(COUNCIL_ZONE).date():
            raise ValueError("a service response cannot be due before the request was sent")
        if self.responded_at is not None and _before(self.responded_at, self.sent_at):
            raise ValueError("a service cannot respond before the request was sent")
        return self


class MemberCase(Record):
    """One constituent's enquiry to one member: the unit of casework."""

    portal_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    crm_reference: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    # The number people read where the CRM's reference is an id (Dynamics 365 ticketnumber).
    crm_number: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    member_id: RecordId
    ward_id: RecordId
    constituent: Constituent
    category: ShortText
    service_id: RecordId | None = None
    title: ShortText
    description: LongText = ""
    channel: Channel
    raised_by: RaisedBy = RaisedBy.COUNCILLOR
    status: CaseStatus = CaseStatus.QUEUED
    priority: Priority = Priority.NORMAL
    received_at: CouncilTime
    acknowledged_at: CouncilTime | None = None
    closed_at: CouncilTime | None = None
    acknowledgement_due: date | None = None
    next_update_due: date | None = None
    target_date: date | None = None
    closure_reason: LongText | None = None
    location: Location = Field(default_factory=Location)
    sharing: Sharing = Field(default_factory=Sharing)
    authority: Authority | None = None
    special_category: bool = False  # holds health, ethnicity, religion, ... details
    flags: list[ShortText] = Field(default_factory=list)
    linked_cases: list[str] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    service_requests: list[ServiceRequest] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = list(self._problems())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> list[str]:
        problems: list[str] = []
        received_day = self.received_at.astimezone(COUNCIL_ZONE).date()
        if self.status is CaseStatus.CLOSED:
            if self.closed_at is None:
                problems.append("a closed case needs its closed time (closed_at)")
            if not self.closure_reason:
                problems.append("a closed case needs a closure reason")
        elif self.closed_at is not None and self.status is not CaseStatus.REOPENED:
            problems.append(f"a case with status '{self.status}' cannot have a closed time")
        for name in ("acknowledged_at", "closed_at"):
            moment = getattr(self, name)
            if moment is not None and _before(moment, self.received_at):
                problems.append(f"{name} is before the case was received")
        for name in ("acknowledgement_due", "next_update_due", "target_date"):
            day = getattr(self, name)
            if day is not None and day < received_day:
                problems.append(f"{name} ({day}) is before the case was received ({received_day})")
        if self.special_category and not (self.authority and self.authority.explicit_consent):
            problems.append(
                "special-category details need the constituent's explicit consent recorded"
                " (authority.explicit_consent)"
            )
        if self.status is CaseStatus.WITH_SERVICE and self.service_id is None:
            problems.append("a case with a service needs service_id")
        return problems

    @property
    def is_open(self) -> bool:
        return self.status not in (CaseStatus.CLOSED, CaseStatus.DRAFT)


__all__ = [
    "COUNCIL_ZONE",
    "AttachmentRef",
    "Authority",
    "AuthorityScope",
    "CaseStatus",
    "Category",
    "Channel",
    "Constituent",
    "CouncilTime",
    "LawfulBasis",
    "Location",
    "Member",
    "MemberCase",
    "Note",
    "NoteKind",
    "Officer",
    "Priority",
    "RaisedBy",
    "Record",
    "Service",
    "ServiceRequest",
    "Sharing",
    "SharingLevel",
    "Ward",
]
