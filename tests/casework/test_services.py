"""Sending a case to a service, and the working days its reply is due in, called directly."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from mappings.model import CaseStatus
from portal_extensions.access import Action
from portal_extensions.casework import add_working_days, is_working_day, send_to_service
from portal_extensions.casework.results import Conflict, Invalid, Queued
from portal_extensions.casework.working_days import Nation
from tests.casework.conftest import Council
from tests.portal.access_fixtures import NOW
from tests.portal.web_fixtures import CASES, DIRECTORY

FLY_TIPPING = next(c for c in CASES if c.title == "Fly-tipping behind the shops")
DRAIN = next(c for c in CASES if c.title == "Blocked drain cleared")


@pytest.mark.parametrize(
    ("start", "count", "nation", "due"),
    [
        (date(2026, 6, 12), 1, "england", date(2026, 6, 15)),  # Friday -> Monday
        (date(2026, 12, 23), 2, "england", date(2026, 12, 29)),  # Christmas, Boxing Day (Mon)
        (date(2026, 12, 31), 1, "england", date(2027, 1, 4)),  # New Year's Day, a weekend
        (date(2026, 12, 31), 1, "scotland", date(2027, 1, 5)),  # and Scotland's 2 January
        (date(2026, 7, 10), 1, "northern_ireland", date(2026, 7, 14)),  # the Twelfth (Mon)
        (date(2026, 6, 15), 0, "wales", date(2026, 6, 15)),
    ],
)
def test_working_days_skip_weekends_and_the_nations_bank_holidays(
    start: date, count: int, nation: Nation, due: date
) -> None:
    assert add_working_days(start, count, nation) == due
    assert count == 0 or is_working_day(due, nation)


def test_a_negative_target_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_working_days(date(2026, 6, 15), -1)


def test_a_case_sent_to_a_service_is_due_after_its_response_target(council: Council) -> None:
    visible = council.open("alice", FLY_TIPPING, Action.SEND_TO_SERVICE)
    unknown = send_to_service(
        visible,
        "S9",
        viewer=council.viewer("alice"),
        contacts=DIRECTORY.service_contacts(),
        writes=council.writes,
        now=NOW,
        nation="england",
    )
    assert unknown == Invalid({"service_id": "Select the service to send the case to"})
    friday = datetime(2026, 6, 12, 15, 0, tzinfo=NOW.tzinfo)
    sent = send_to_service(
        visible,
        " S1 ",
        viewer=council.viewer("alice"),
        contacts=DIRECTORY.service_contacts(),
        writes=council.writes,
        now=friday,
        nation="england",
    )
    assert isinstance(sent, Queued) and sent.response_due == date(2026, 6, 26)  # 10 days
    case = council.stored(FLY_TIPPING)
    assert case.status is CaseStatus.WITH_SERVICE and case.service_id == "S1"
    assert [r.response_due for r in case.service_requests] == [date(2026, 6, 26)]
    assert council.open("officer_s1", FLY_TIPPING).fields["title"] == FLY_TIPPING.title


def test_a_closed_case_is_reopened_before_it_is_sent(council: Council) -> None:
    visible = council.open("alice", DRAIN, Action.SEND_TO_SERVICE)
    result = send_to_service(
        visible,
        "S1",
        viewer=council.viewer("alice"),
        contacts=DIRECTORY.service_contacts(),
        writes=council.writes,
        now=NOW,
        nation="england",
    )
    assert result == Conflict("Reopen the case before sending it to a service")
