"""The constituent's choices on a case: whom it is shared with, and their authority.

One path for the case page and the JSON API. A change becomes a new `MemberCase`, which the
caller hands to `CaseWrites.update_case`: the index and the outbox change in one transaction, so
a withdrawal ends every colleague's and service's view at once (the access policy reads the
index). Who may change these is the access policy's `Action.MANAGE_CONSENT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mappings.model import Authority, MemberCase, Sharing, SharingLevel
from portal_extensions.access import Viewer, council_day
from portal_extensions.store.directory import MemberChoice


class SharingForm(BaseModel):
    """Whom the case is shared with, as the form (or the API) sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: Annotated[str, Field(max_length=20)] = ""
    colleague_id: Annotated[str, Field(max_length=64)] = ""
    until: date | None = None


class AuthorityDecision(StrEnum):
    WITHDRAW = "withdraw"
    RECORD = "record"


class AuthorityForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: AuthorityDecision
    explicit_consent: bool = False


@dataclass
class ConsentChange:
    case: MemberCase | None
    errors: dict[str, str]  # form field -> message
    conflict: str | None = None  # the change makes no sense in the case's state (409)


def parse_day(day: str, month: str, year: str) -> tuple[date | None, str | None]:
    """A date from the three boxes of a GOV.UK date input: (date, None), (None, None) when all
    are empty, or (None, message) when it is not a real date."""
    parts = [day.strip(), month.strip(), year.strip()]
    if not any(parts):
        return None, None
    if not all(part.isdigit() for part in parts):
        return None, "The end date must be a real date, like 27 3 2027"
    try:
        return date(int(parts[2]), int(parts[1]), int(parts[0])), None
    except ValueError:
        return None, "The end date must be a real date, like 27 3 2027"


def sharing_problems(
    level: SharingLevel | None,
    colleague_id: str,
    until: date | None,
    *,
    owner_id: str | None,
    members: dict[str, MemberChoice],
    today: date,
) -> dict[str, str]:
    """The errors of a sharing choice, by form field (shared by the enquiry and case forms)."""
    errors: dict[str, str] = {}
    if level is None:
        errors["sharing"] = "Select who else may see this enquiry"
        return errors
    if level is SharingLevel.NAMED:
        if colleague_id not in members or colleague_id == owner_id:
            errors["colleague_id"] = "Select the colleague to share this enquiry with"
        if until is not None and until < today:
            errors["cover_until"] = "The end date must be today or in the future"
    return errors


def change_sharing(
    case: MemberCase,
    form: SharingForm,
    members: dict[str, MemberChoice],
    now: datetime,
) -> ConsentChange:
    """The case with its new sharing, or the errors to show beside each field."""
    if case.authority is None or not case.authority.in_force:
        return ConsentChange(None, {}, "Record the constituent's authority before sharing the case")
    try:
        level: SharingLevel | None = SharingLevel(form.level)
    except ValueError:
        level = None
    errors = sharing_problems(
        level,
        form.colleague_id,
        form.until,
        owner_id=case.member_id,
        members=members,
        today=council_day(now),
    )
    if errors or level is None:
        return ConsentChange(None, errors)
    named = level is SharingLevel.NAMED
    sharing = Sharing(
        level=level,
        colleague_id=form.colleague_id if named else None,
        until=form.until if named else None,
    )
    return ConsentChange(case.model_copy(update={"sharing": sharing}), {})


def change_authority(
    case: MemberCase, form: AuthorityForm, viewer: Viewer, now: datetime
) -> ConsentChange:
    """Withdraw the constituent's authority (at once), or record it anew."""
    authority = case.authority
    if form.decision is AuthorityDecision.WITHDRAW:
        if authority is None or not authority.in_force:
            return ConsentChange(None, {}, "The constituent's authority is already withdrawn")
        withdrawn = authority.model_copy(update={"withdrawn_at": now, "explicit_consent": False})
        return ConsentChange(case.model_copy(update={"authority": withdrawn}), {})
    if (
        authority is not None
        and authority.in_force
        and (authority.explicit_consent or not form.explicit_consent)
    ):
        return ConsentChange(None, {}, "The constituent's authority is already recorded")
    recorded = Authority(
        recorded_by=viewer.user_id,
        recorded_at=now,
        scope=authority.scope if authority else Authority.model_fields["scope"].default,
        explicit_consent=form.explicit_consent,
    )
    return ConsentChange(case.model_copy(update={"authority": recorded}), {})


__all__ = [
    "AuthorityDecision",
    "AuthorityForm",
    "ConsentChange",
    "SharingForm",
    "change_authority",
    "change_sharing",
    "parse_day",
    "sharing_problems",
]
