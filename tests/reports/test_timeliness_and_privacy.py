"""Working days across bank holidays through the whole report (store, figures), the council's
nation deciding which holidays count, and no report revealing a case its viewer may not see;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, ServiceRequest, SharingLevel
from portal_extensions.casework.working_days import Nation, add_working_days, working_days_between
from portal_extensions.reports.service import Reports
from portal_extensions.reports.tables import WITHHELD, Value
from portal_extensions.store.database import Store
from portal_extensions.store.directory import DirectoryNames, ServiceContact
from portal_extensions.store.reports import StoreReports
from tests.portal.access_fixtures import VIEWERS
from tests.portal.fakes import MemoryDirectory
from tests.portal.web_fixtures import make_case
from tests.store.conftest import BACKENDS, fresh_database
from tests.store.seeding import seed

NOW = datetime(2026, 6, 1, 11, 0, tzinfo=UTC)
SECRET = "secret-category"
DIRECTORY = MemoryDirectory(
    [ServiceContact("Highways", "Pat Road", "h@example.org", None, 10, "S1", "o1")],
    DirectoryNames(
        members={m: m.title() for m in ("alice", "bob", "carol", "dave", "erin")},
        wards={"W1": "Abbey", "W2": "Castle"},
        categories={"Street cleaning": "Street cleaning", SECRET: "Something private"},
    ),
)


def _at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=COUNCIL_ZONE)


def _answered(title: str, sent: date, answered: date, *, withdrawn: bool = False) -> MemberCase:
    case = make_case(
        "alice",
        title,
        service="S1",
        status=CaseStatus.RESPONDED,
        received_at=_at(sent, 9),
        withdrawn=withdrawn,
    )
    request = ServiceRequest(
        service_id="S1",
        sent_at=_at(sent),
        response_due=add_working_days(sent, 10),
        responded_at=_at(answered, 15),
    )
    return case.model_copy(update={"service_requests": [request]})


CHRISTMAS = _answered("Over Christmas", date(2025, 12, 23), date(2025, 12, 29))
NEW_YEAR = _answered("Over New Year", date(2025, 12, 31), date(2026, 1, 5))
EASTER = _answered("Over Easter", date(2026, 4, 2), date(2026, 4, 7))
WITHDRAWN = _answered("Authority withdrawn", date(2026, 5, 5), date(2026, 5, 6), withdrawn=True)
BOBS_SECRET = make_case(
    "bob",
    "Bob's private case",
    level=SharingLevel.PRIVATE,
    category=SECRET,
    received_at=NOW - timedelta(days=20),
)
CASES = [CHRISTMAS, NEW_YEAR, EASTER, WITHDRAWN, BOBS_SECRET]


@pytest.fixture(scope="module", params=BACKENDS)
def reports_store(request, tmp_path_factory):
    """The small council and these cases, seeded once per backend (the tests only read)."""
    with fresh_database(request.param, request, tmp_path_factory) as database:
        store = seed(database.open(), CASES)
        yield store
        store.close()


def _reports(store: Store, nation: Nation = "england") -> Reports:
    return Reports(StoreReports(store), DIRECTORY, nation=nation, threshold=5, council_name="N")


def _timing(
    store: Store, start: str, end: str, nation: Nation = "england", who: str = "team_leader"
) -> tuple[Value, ...]:
    reports = _reports(store, nation)
    viewer = VIEWERS[who]
    query = reports.query(viewer, {"from": start, "to": end}, NOW, scrutiny=False)
    table = reports.report(viewer, query, NOW).table("timeliness-by-service")
    assert table is not None and table.total is not None
    return table.total


def test_working_days_skip_weekends_and_the_nations_bank_holidays() -> None:
    assert working_days_between(date(2025, 12, 23), date(2025, 12, 29)) == 2  # 25th, 26th
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1  # Good Friday, Monday
    assert working_days_between(date(2026, 4, 2), date(2026, 4, 7), "scotland") == 2
    assert working_days_between(date(2025, 12, 31), date(2026, 1, 5)) == 2
    assert working_days_between(date(2025, 12, 31), date(2026, 1, 5), "scotland") == 1
    assert working_days_between(date(2026, 5, 1), date(2026, 5, 1)) == 0
    with pytest.raises(ValueError, match="counted forwards"):
        working_days_between(date(2026, 5, 2), date(2026, 5, 1))


@pytest.mark.parametrize(
    ("start", "end", "nation", "days"),
    [
        ("2025-12-22", "2025-12-23", "england", 2),  # Christmas
        ("2025-12-31", "2025-12-31", "england", 2),  # New Year's Day
        ("2025-12-31", "2025-12-31", "scotland", 1),  # and 2 January in Scotland
        ("2026-04-01", "2026-04-30", "england", 1),  # Good Friday and Easter Monday
        ("2026-04-01", "2026-04-30", "scotland", 2),  # Scotland keeps Easter Monday
    ],
)
def test_timeliness_counts_working_days_across_bank_holidays(
    reports_store, start, end, nation, days
) -> None:
    total = _timing(reports_store, start, end, nation)
    # Requests sent, answered, overdue, median and 90th percentile to the response.
    assert total[2:7] == (1, 1, 0, days, days)
    assert total[9] == 100.0  # answered by the due day


def test_a_service_officer_counts_no_request_on_a_case_they_may_not_see(reports_store) -> None:
    # Both sent to the officer's service; the May case's authority has been withdrawn.
    assert _timing(reports_store, "2026-04-01", "2026-05-31", who="team_leader")[2] == 2
    assert _timing(reports_store, "2026-04-01", "2026-05-31", who="officer_s1")[2] == 1


def test_no_report_reveals_a_case_its_viewer_may_not_see(reports_store) -> None:
    reports = _reports(reports_store)
    alice = VIEWERS["alice"]
    for chosen in ({}, {"category": SECRET}, {"ward": "W1"}):
        query = reports.query(alice, {"from": "2025-06-01", **chosen}, NOW, scrutiny=False)
        report = reports.report(alice, query, NOW)
        for table in report.tables:
            labels = {str(row[0]) for row in table.rows}
            assert "Something private" not in labels and "Bob" not in labels, table.key
        if chosen.get("category") == SECRET:
            assert all(not table.rows for table in report.tables if table.key != "trend-by-month")
            trend = report.table("trend-by-month")
            assert trend is not None and trend.total == ("Total", 0, 0)
        # Bob's one private case would be the difference between alice's figures and the
        # ward's or the council's: both totals are withheld, not shown as "1 more".
        assert report.totals is not None
        rows = {row[0]: row[1:] for row in report.totals.rows}
        assert rows["Your ward"] == (WITHHELD,) * 4
        assert rows["The council"] == (WITHHELD,) * 4
        assert WITHHELD not in rows["Your cases"]
    # The team leader sees it counted.
    leader = VIEWERS["team_leader"]
    query = reports.query(leader, {"from": "2025-06-01"}, NOW, scrutiny=False)
    by_category = reports.report(leader, query, NOW).table("volumes-by-category")
    assert by_category is not None
    assert {str(row[0]): row[1] for row in by_category.rows}["Something private"] == 1


def test_an_administrator_has_no_report(reports_store) -> None:
    from portal_extensions.reports.service import ReportRefused

    reports = _reports(reports_store)
    admin = VIEWERS["admin"]
    query = reports.query(admin, {}, NOW, scrutiny=False)
    with pytest.raises(ReportRefused):
        reports.report(admin, query, NOW)
    with pytest.raises(ReportRefused):
        reports.scrutiny(VIEWERS["alice"], query, NOW)
