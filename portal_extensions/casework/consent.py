"""The constituent's choices on a case: whom it is shared with, and their authority.

One path for the case page and the JSON API. A change becomes a new `MemberCase`, written
through `CaseWrites.update_case`: the index and the outbox change in one transaction, so a
withdrawal ends every colleague's and service's view at once (the access policy reads the
index). Who may change these is the access policy's `Action.MANAGE_CONSENT`, checked when the
case is opened (`cases.open_case`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from mappings.model import Authority, MemberCase, Sharing, SharingLevel
from portal_extensions.access import Viewer, council_day
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.ports import CaseWrites, EnquiryOptions
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from portal_extensions.store.directory import MemberChoice

#: Shared with nobody else: where sharing starts, and where it goes when authority ends.
NOBODY = Sharing(level=SharingLevel.PRIVATE)


class SharingForm(BaseModel):
    """Whom the case is shared with, as the form (or the API) sends it. `level` is required
    (a missing one is a problem beside the field, so the API describes it as required)."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"required": ["level"]}
    )

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


def sharing_change(
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


def authority_change(
    case: MemberCase, form: AuthorityForm, viewer: Viewer, now: datetime
) -> ConsentChange:
    """Withdraw the constituent's authority (at once), or record it anew.

    Sharing is the constituent's choice under their authority, so it ends with it: a
    withdrawal shares the case with nobody, and authority recorded again (after a withdrawal,
    or on a case that had none) starts from nobody too, never silently restoring an old
    sharing (a named colleague above all) the constituent has not agreed to again. Adding
    explicit consent to authority in force keeps the sharing as it is."""
    authority = case.authority
    if form.decision is AuthorityDecision.WITHDRAW:
        if authority is None or not authority.in_force:
            return ConsentChange(None, {}, "The constituent's authority is already withdrawn")
        withdrawn = authority.model_copy(update={"withdrawn_at": now, "explicit_consent": False})
        return ConsentChange(
            case.model_copy(update={"authority": withdrawn, "sharing": NOBODY}), {}
        )
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
    in_force = authority is not None and authority.in_force
    sharing = case.sharing if in_force else NOBODY
    return ConsentChange(case.model_copy(update={"authority": recorded, "sharing": sharing}), {})


def change_sharing(
    visible: VisibleCase,
    form: SharingForm,
    *,
    viewer: Viewer,
    options: EnquiryOptions,
    writes: CaseWrites,
    now: datetime,
    input_errors: Mapping[str, str] | None = None,
) -> ChangeResult:
    """Share an opened case (`Action.MANAGE_CONSENT`) as the form says, and queue the change.

    `input_errors` are problems the caller found in the raw input before it could fill the
    form (a date typed in three boxes that is not a date); they are reported with the rest,
    and the case is not changed.
    """
    members = {member.id: member for member in options.members()}
    change = sharing_change(visible.stored.case, form, members, now)
    if change.conflict:
        return Conflict(change.conflict)
    errors = {**change.errors, **(input_errors or {})}
    if errors or change.case is None:
        return Invalid(errors)
    key = writes.update_case(
        change.case,
        change="change_sharing",
        actor=viewer.user_id,
        on_behalf_of=visible.on_behalf_of,
    )
    return Queued(change.case.portal_id, key)


def change_authority(
    visible: VisibleCase,
    form: AuthorityForm,
    *,
    viewer: Viewer,
    writes: CaseWrites,
    now: datetime,
) -> Queued | Conflict:
    """Withdraw the constituent's authority on an opened case (`Action.MANAGE_CONSENT`), at
    once on every route, or record it anew; queued for the CRM."""
    change = authority_change(visible.stored.case, form, viewer, now)
    if change.conflict or change.case is None:
        return Conflict(change.conflict or "Nothing to change")
    key = writes.update_case(
        change.case,
        change=f"{form.decision.value}_authority",
        actor=viewer.user_id,
        on_behalf_of=visible.on_behalf_of,
    )
    return Queued(change.case.portal_id, key)


__all__ = [
    "NOBODY",
    "AuthorityDecision",
    "AuthorityForm",
    "ConsentChange",
    "SharingForm",
    "authority_change",
    "change_authority",
    "change_sharing",
    "sharing_change",
    "sharing_problems",
]
