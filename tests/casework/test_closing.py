"""Closing and reopening, called as the page and the JSON API both call them: the one home of
their preconditions."""

from __future__ import annotations

import pytest

from mappings.model import CaseStatus
from portal_extensions.access import Action
from portal_extensions.casework import close_case, reopen_case
from portal_extensions.casework.errors import ActionRefused
from portal_extensions.casework.notes import MAX_TEXT_LENGTH
from portal_extensions.casework.results import Conflict, Invalid, Queued
from tests.casework.conftest import Council
from tests.portal.web_fixtures import CASES

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
DRAIN = next(c for c in CASES if c.title == "Blocked drain cleared")
WITHDRAWN = next(c for c in CASES if c.title == "Withdrawn ward case")


def test_closing_an_open_case_queues_it_with_the_reason_and_audits_it(council: Council) -> None:
    visible = council.open("alice", BROKEN_LIGHT, Action.CLOSE)
    result = close_case(
        visible, "  Light fixed  ", viewer=council.viewer("alice"), writes=council.writes
    )
    assert isinstance(result, Queued) and result.case_id == BROKEN_LIGHT.portal_id
    [write] = council.writes.pending(BROKEN_LIGHT.portal_id)
    assert (write.kind, write.text, write.key) == ("close_case", "Light fixed", result.key)
    assert ("u-alice", "outbox.close_case.queued", "") in council.events(BROKEN_LIGHT)


def test_a_closed_case_cannot_be_closed_again_and_nothing_is_queued(council: Council) -> None:
    visible = council.open("alice", DRAIN, Action.CLOSE)
    result = close_case(visible, "Again", viewer=council.viewer("alice"), writes=council.writes)
    assert result == Conflict("This case is already closed")
    assert council.kinds_queued(DRAIN) == []


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("   ", "Enter why the case is being closed"),
        ("x" * (MAX_TEXT_LENGTH + 1), "This must be 20,000 characters or fewer"),
    ],
)
def test_a_blank_or_overlong_reason_is_a_problem_beside_the_field(
    council: Council, reason: str, problem: str
) -> None:
    visible = council.open("alice", BROKEN_LIGHT, Action.CLOSE)
    result = close_case(visible, reason, viewer=council.viewer("alice"), writes=council.writes)
    assert result == Invalid({"close": problem})
    assert council.kinds_queued(BROKEN_LIGHT) == []


def test_reopening_needs_a_closed_case(council: Council) -> None:
    visible = council.open("alice", BROKEN_LIGHT, Action.REOPEN)
    result = reopen_case(visible, "Back", viewer=council.viewer("alice"), writes=council.writes)
    assert result == Conflict("This case is not closed")
    assert council.kinds_queued(BROKEN_LIGHT) == []


def test_reopening_a_closed_case_is_queued_on_the_members_behalf(council: Council) -> None:
    visible = council.open("ms_alice", DRAIN, Action.REOPEN)
    assert visible.on_behalf_of == "alice"
    blank = reopen_case(visible, "", viewer=council.viewer("ms_alice"), writes=council.writes)
    assert blank == Invalid({"reopen": "Enter why the case is being reopened"})
    result = reopen_case(
        visible, "Drain blocked again", viewer=council.viewer("ms_alice"), writes=council.writes
    )
    assert isinstance(result, Queued)
    assert council.kinds_queued(DRAIN) == ["reopen_case"]
    assert council.stored(DRAIN).status is CaseStatus.CLOSED  # the CRM has not confirmed yet


def test_a_case_shared_with_a_colleague_cannot_be_closed_by_them(council: Council) -> None:
    with pytest.raises(ActionRefused) as refused:
        council.open("bob", BROKEN_LIGHT, Action.CLOSE)
    assert refused.value.action is Action.CLOSE
    assert ("u-bob", "close", "refused") in council.events(BROKEN_LIGHT)
