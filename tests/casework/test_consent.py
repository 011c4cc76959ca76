"""Sharing and authority changes, called directly: field errors, conflicts, and a withdrawal
that ends a colleague's view at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mappings.model import MemberCase, SharingLevel
from portal_extensions.access import Action
from portal_extensions.casework import (
    AuthorityDecision,
    AuthorityForm,
    SharingForm,
    change_authority,
    change_sharing,
)
from portal_extensions.casework.errors import CaseNotFound
from portal_extensions.casework.results import ChangeResult, Conflict, Invalid, Queued
from tests.casework.conftest import Council
from tests.portal.access_fixtures import NOW, TODAY
from tests.portal.web_fixtures import CASES, OPTIONS

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
FLY_TIPPING = next(c for c in CASES if c.title == "Fly-tipping behind the shops")
WITHDRAWN = next(c for c in CASES if c.title == "Withdrawn ward case")


def _share(
    council: Council,
    case: MemberCase,
    form: SharingForm,
    input_errors: dict[str, str] | None = None,
) -> ChangeResult:
    visible = council.open("alice", case, Action.MANAGE_CONSENT)
    return change_sharing(
        visible,
        form,
        viewer=council.viewer("alice"),
        options=OPTIONS,
        writes=council.writes,
        now=NOW,
        input_errors=input_errors,
    )


def test_sharing_with_a_named_colleague_needs_the_colleague_and_a_future_end(
    council: Council,
) -> None:
    form = SharingForm(level="named", colleague_id="alice", until=TODAY - timedelta(days=1))
    assert _share(council, FLY_TIPPING, form) == Invalid(
        {
            "colleague_id": "Select the colleague to share this enquiry with",
            "cover_until": "The end date must be today or in the future",
        }
    )
    assert _share(council, FLY_TIPPING, SharingForm(level="everyone")) == Invalid(
        {"sharing": "Select who else may see this enquiry"}
    )
    assert council.stored(FLY_TIPPING).sharing.level is SharingLevel.PRIVATE


def test_problems_found_in_the_raw_input_are_reported_and_nothing_changes(
    council: Council,
) -> None:
    problem = {"cover_until": "The end date must be a real date, like 27 3 2027"}
    form = SharingForm(level="named", colleague_id="dave")
    assert _share(council, FLY_TIPPING, form, input_errors=problem) == Invalid(problem)
    assert council.stored(FLY_TIPPING).sharing.level is SharingLevel.PRIVATE


def test_sharing_with_a_colleague_lets_them_see_the_case_at_once(council: Council) -> None:
    with pytest.raises(CaseNotFound):
        council.open("dave", FLY_TIPPING)
    result = _share(council, FLY_TIPPING, SharingForm(level="named", colleague_id="dave"))
    assert isinstance(result, Queued)
    assert council.open("dave", FLY_TIPPING).stored.case.sharing.colleague_id == "dave"


def test_a_case_without_authority_in_force_cannot_be_shared(council: Council) -> None:
    result = _share(council, WITHDRAWN, SharingForm(level="ward"))
    assert result == Conflict("Record the constituent's authority before sharing the case")


def test_a_withdrawal_ends_a_ward_colleagues_view_at_once(council: Council) -> None:
    assert council.open("bob", BROKEN_LIGHT).fields["title"] == BROKEN_LIGHT.title
    visible = council.open("alice", BROKEN_LIGHT, Action.MANAGE_CONSENT)
    withdraw = AuthorityForm(decision=AuthorityDecision.WITHDRAW)
    result = change_authority(
        visible, withdraw, viewer=council.viewer("alice"), writes=council.writes, now=NOW
    )
    assert isinstance(result, Queued)
    with pytest.raises(CaseNotFound):
        council.open("bob", BROKEN_LIGHT)
    again = change_authority(
        council.open("alice", BROKEN_LIGHT, Action.MANAGE_CONSENT),
        withdraw,
        viewer=council.viewer("alice"),
        writes=council.writes,
        now=NOW,
    )
    assert again == Conflict("The constituent's authority is already withdrawn")
    assert ("u-bob", "view_case", "refused") in council.events(BROKEN_LIGHT)


def test_authority_is_recorded_anew_but_not_twice(council: Council) -> None:
    record = AuthorityForm(decision=AuthorityDecision.RECORD)
    visible = council.open("alice", WITHDRAWN, Action.MANAGE_CONSENT)
    first = change_authority(
        visible, record, viewer=council.viewer("alice"), writes=council.writes, now=NOW
    )
    assert isinstance(first, Queued)
    authority = council.stored(WITHDRAWN).authority
    assert authority is not None and authority.in_force and authority.recorded_by == "u-alice"
    second = change_authority(
        council.open("alice", WITHDRAWN, Action.MANAGE_CONSENT),
        record,
        viewer=council.viewer("alice"),
        writes=council.writes,
        now=NOW,
    )
    assert second == Conflict("The constituent's authority is already recorded")


def test_sharing_ends_with_authority_and_is_not_restored_when_it_is_given_again(
    council: Council,
) -> None:
    alice = council.viewer("alice")
    named = SharingForm(level="named", colleague_id="bob")
    assert isinstance(_share(council, FLY_TIPPING, named), Queued)
    withdraw = AuthorityForm(decision=AuthorityDecision.WITHDRAW)
    visible = council.open("alice", FLY_TIPPING, Action.MANAGE_CONSENT)
    assert isinstance(
        change_authority(visible, withdraw, viewer=alice, writes=council.writes, now=NOW), Queued
    )
    withdrawn = council.stored(FLY_TIPPING)
    assert (
        withdrawn.sharing.level is SharingLevel.PRIVATE and withdrawn.sharing.colleague_id is None
    )
    record = AuthorityForm(decision=AuthorityDecision.RECORD)
    visible = council.open("alice", FLY_TIPPING, Action.MANAGE_CONSENT)
    assert isinstance(
        change_authority(visible, record, viewer=alice, writes=council.writes, now=NOW), Queued
    )
    again = council.stored(FLY_TIPPING)
    assert again.authority is not None and again.authority.in_force
    assert again.sharing.level is SharingLevel.PRIVATE  # asked again, never brought back
    with pytest.raises(CaseNotFound):
        council.open("bob", FLY_TIPPING)


def test_adding_explicit_consent_keeps_the_sharing_in_force(council: Council) -> None:
    visible = council.open("alice", BROKEN_LIGHT, Action.MANAGE_CONSENT)
    consent = AuthorityForm(decision=AuthorityDecision.RECORD, explicit_consent=True)
    result = change_authority(
        visible, consent, viewer=council.viewer("alice"), writes=council.writes, now=NOW
    )
    assert isinstance(result, Queued)
    case = council.stored(BROKEN_LIGHT)
    assert case.authority is not None and case.authority.explicit_consent
    assert case.sharing.level is SharingLevel.WARD
    assert council.open("bob", BROKEN_LIGHT).fields["title"] == BROKEN_LIGHT.title
