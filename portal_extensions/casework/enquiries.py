"""Recording a new enquiry: the form's fields, their checks, and the case they become.

One path for the page and the JSON API. Five fields are required (whose case, the resident's
surname, category, what it is about, how it came in); everything else is optional or has a safe
default (shared with nobody). Every problem is reported against the field that caused it, in
words a councillor can act on, and the form comes back with everything typed kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mappings.model import (
    Authority,
    CaseStatus,
    Channel,
    Constituent,
    Location,
    MemberCase,
    RaisedBy,
    Sharing,
    SharingLevel,
)
from portal_extensions.access import Role, Viewer, council_day, may_create_case_for
from portal_extensions.casework.consent import sharing_problems
from portal_extensions.casework.ports import CaseWrites, EnquiryOptions
from portal_extensions.casework.results import Invalid, Queued

CHANNEL_TEXT = {
    Channel.SURGERY: "At a surgery",
    Channel.EMAIL: "Email",
    Channel.PHONE: "Phone",
    Channel.LETTER: "Letter",
    Channel.STREET: "In person, out and about",
    Channel.ONLINE: "Online or social media",
}
SHARING_TEXT = {
    SharingLevel.PRIVATE: "Nobody else",
    SharingLevel.WARD: "All councillors for the ward",
    SharingLevel.PARTY: "Ward councillors of my party",
    SharingLevel.NAMED: "One named colleague (for example, holiday cover)",
}


#: The answers every enquiry needs (and `member_id` when staff record one for a councillor):
#: without one, `build_case` names it among the problems. The API's description marks them
#: required; the model itself takes what was typed, so the page can show each problem.
REQUIRED_FIELDS = ("surname", "category", "title", "channel")


class EnquiryForm(BaseModel):
    """What the form (or the API) sends: strings, as typed."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"required": list(REQUIRED_FIELDS)},
    )

    member_id: Annotated[str, Field(max_length=64)] = ""
    # Set when the resident was found by the look-up (or by an API caller that knows them):
    # the CRM links the case to this party instead of creating a new one.
    crm_party_id: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.:@-]*$")] = ""
    forename: Annotated[str, Field(max_length=100)] = ""
    surname: Annotated[str, Field(max_length=200)] = ""
    email: Annotated[str, Field(max_length=320)] = ""
    phone: Annotated[str, Field(max_length=40)] = ""
    postcode: Annotated[str, Field(max_length=10)] = ""
    category: Annotated[str, Field(max_length=64)] = ""
    service_id: Annotated[str, Field(max_length=64)] = ""
    title: Annotated[str, Field(max_length=400)] = ""
    description: Annotated[str, Field(max_length=40_000)] = ""
    channel: Annotated[str, Field(max_length=20)] = ""
    sharing: Annotated[str, Field(max_length=20)] = SharingLevel.PRIVATE.value
    colleague_id: Annotated[str, Field(max_length=64)] = ""
    # The last day a named cover colleague may see the case (ISO date; the page's three boxes
    # are joined into it). Empty: until the sharing is changed.
    cover_until: Annotated[str, Field(max_length=10)] = ""
    explicit_consent: bool = False
    special_category: bool = False


@dataclass
class EnquiryResult:
    case: MemberCase | None
    errors: dict[str, str]  # form field -> message


# Which form field a model error belongs to, by the model's location.
_FIELD_OF = {
    ("constituent", "surname"): "surname",
    ("constituent", "forename"): "forename",
    ("constituent", "email"): "email",
    ("constituent", "phone"): "phone",
    ("constituent", "location", "postcode"): "postcode",
    ("location", "postcode"): "postcode",
    ("title",): "title",
    ("description",): "description",
    ("category",): "category",
}


def build_case(
    form: EnquiryForm, viewer: Viewer, options: EnquiryOptions, now: datetime
) -> EnquiryResult:
    """The queued case the form describes, or the errors to show beside each field."""
    errors: dict[str, str] = {}
    members = {member.id: member for member in options.members()}
    member_id = viewer.member_id if viewer.role is Role.MEMBER else form.member_id
    if not member_id:
        errors["member_id"] = "Select the councillor this enquiry is for"
    elif member_id not in members or not may_create_case_for(viewer, member_id):
        errors["member_id"] = "Select a councillor you record enquiries for"
    if not form.surname:
        errors["surname"] = "Enter the resident's surname"
    if form.category not in {choice.value for choice in options.categories()}:
        errors["category"] = "Select the category"
    if form.service_id and form.service_id not in {c.value for c in options.services()}:
        errors["service_id"] = "Select a service from the list"
    if not form.title:
        errors["title"] = "Enter what the enquiry is about"
    elif len(form.title) > 200:
        errors["title"] = "What the enquiry is about must be 200 characters or fewer"
    channel = _enum(Channel, form.channel)
    if channel is None:
        errors["channel"] = "Select how the enquiry came in"
    sharing = _enum(SharingLevel, form.sharing)
    cover_until: date | None = None
    if sharing is SharingLevel.NAMED and form.cover_until:
        try:
            cover_until = date.fromisoformat(form.cover_until)
        except ValueError:
            errors["cover_until"] = "The end date must be a real date, like 27 3 2027"
    errors.update(
        sharing_problems(
            sharing,
            form.colleague_id,
            cover_until,
            owner_id=member_id or None,
            members=members,
            today=council_day(now),
        )
    )
    if form.special_category and not form.explicit_consent:
        errors["explicit_consent"] = (
            "Sensitive details can only be recorded with the resident's explicit consent"
        )
    if errors or member_id is None or channel is None or sharing is None:
        return EnquiryResult(None, errors)
    try:
        location = Location(postcode=form.postcode or None)
        case = MemberCase(
            portal_id=uuid.uuid4(),
            member_id=member_id,
            ward_id=members[member_id].ward_id,
            constituent=Constituent(
                crm_party_id=form.crm_party_id or None,
                forename=form.forename or None,
                surname=form.surname,
                email=form.email or None,
                phone=form.phone or None,
                location=location,
            ),
            category=form.category,
            service_id=form.service_id or None,
            title=form.title,
            description=form.description,
            channel=channel,
            raised_by=RaisedBy.COUNCILLOR if viewer.role is Role.MEMBER else RaisedBy.STAFF,
            status=CaseStatus.QUEUED,
            received_at=now,
            location=location,
            sharing=Sharing(
                level=sharing,
                colleague_id=form.colleague_id if sharing is SharingLevel.NAMED else None,
                until=cover_until if sharing is SharingLevel.NAMED else None,
            ),
            authority=Authority(
                recorded_by=viewer.user_id,
                recorded_at=now,
                explicit_consent=form.explicit_consent,
            ),
            special_category=form.special_category,
        )
    except ValidationError as error:
        return EnquiryResult(None, _field_errors(error))
    return EnquiryResult(case, {})


def record_enquiry(
    form: EnquiryForm,
    *,
    viewer: Viewer,
    options: EnquiryOptions,
    writes: CaseWrites,
    now: datetime,
    input_errors: Mapping[str, str] | None = None,
) -> Queued | Invalid:
    """Check the enquiry and queue the new case for the CRM (and the index, as queued).

    `input_errors` are problems the caller found in the raw input before it could fill the
    form (a date typed in three boxes that is not a date); they are reported with the rest.
    Staff recording for a member act on that member's behalf.
    """
    result = build_case(form, viewer, options, now)
    errors = {**result.errors, **(input_errors or {})}
    if errors or result.case is None:
        return Invalid(errors)
    case = result.case
    key = writes.create_case(
        case,
        actor=viewer.user_id,
        on_behalf_of=None if viewer.member_id == case.member_id else case.member_id,
    )
    return Queued(case.portal_id, key)


E = TypeVar("E", Channel, SharingLevel)


def _enum(kind: type[E], value: str) -> E | None:
    try:
        return kind(value)
    except ValueError:
        return None


def _field_errors(error: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for problem in error.errors(include_input=False, include_url=False):
        location = tuple(str(part) for part in problem["loc"])
        field = next(
            (name for loc, name in _FIELD_OF.items() if location[-len(loc) :] == loc), None
        )
        field = field or _guess(location)
        message = str(problem["msg"]).removeprefix("Value error, ")
        errors.setdefault(field, _plain(field, message))
    return errors


def _guess(location: tuple[str, ...]) -> str:
    for name in ("postcode", "email", "phone", "surname", "forename", "title"):
        if name in location:
            return name
    return "title"


def _plain(field: str, message: str) -> str:
    if field == "email":
        return "Enter an email address in the correct format, like name@example.com"
    if field == "phone":
        return "Enter a phone number, like 01632 960 001 or +44 7700 900 982"
    if field == "postcode":
        return "Enter a real postcode, like AB1 2CD"
    return message[0].upper() + message[1:] if message else "Check this answer"


__all__ = [
    "CHANNEL_TEXT",
    "REQUIRED_FIELDS",
    "SHARING_TEXT",
    "EnquiryForm",
    "EnquiryResult",
    "build_case",
    "record_enquiry",
]
