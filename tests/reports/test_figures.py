"""Every figure of the Reports page and the scrutiny report, for each role, against the same
figures computed independently (tests/reports/independent.py) over the seeded demo council,
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from mappings.model import MemberCase
from portal_extensions.access import Viewer, council_day
from portal_extensions.reports.figures import MONTHS, label_of
from portal_extensions.reports.service import Report, Reports
from portal_extensions.reports.tables import WITHHELD, Table
from portal_extensions.store.directory import StoreDirectory
from portal_extensions.store.reports import Dimension, ReportQuery, StoreReports
from portal_extensions.store.schema import members, parties
from tests.reports import independent
from tests.reports.council import NOW, Council, all_cases

TODAY = council_day(NOW)
PERIODS = [
    (date(2025, 6, 1), TODAY),  # runs to today: open and overdue are today's
    (date(2025, 10, 1), date(2026, 3, 31)),  # a past half-year: taken on its last day
    (date(2024, 6, 1), TODAY),
]
KEYS = {
    Dimension.WARD: lambda c: c.ward_id,
    Dimension.MEMBER: lambda c: c.member_id,
    Dimension.SERVICE: lambda c: c.service_id,
    Dimension.CATEGORY: lambda c: c.category,
    Dimension.CHANNEL: lambda c: c.channel.value,
    Dimension.RAISED_BY: lambda c: c.raised_by.value,
}
DIMENSION_KEYS = {f"volumes-by-{d.value.replace('_', '-')}": d for d in Dimension}


def _reports(council: Council) -> Reports:
    return Reports(
        StoreReports(council.store),
        StoreDirectory(council.store),
        nation="england",
        threshold=5,
        council_name=council.council_name,
    )


def _parties(council: Council) -> dict[str, str]:
    with council.store.read() as conn:
        rows = conn.execute(
            sa.select(members.c.id, parties.c.name).join(
                parties, members.c.party_id == parties.c.id
            )
        ).all()
    return dict(rows)


@pytest.fixture(scope="module")
def everything(council: Council) -> list[MemberCase]:
    return list(all_cases(council.store))


def _visible(council: Council, viewer: Viewer, cases: list[MemberCase]) -> list[MemberCase]:
    party = _parties(council)
    return [
        c for c in cases if independent.counted_in_report(viewer, c, party.get(c.member_id), NOW)
    ]


def _figures(table: Table) -> dict[str, tuple[object, ...]]:
    return {str(row[0]): tuple(row[1:]) for row in table.rows}


def _filters(council: Council, cases: list[MemberCase]) -> list[dict[str, str]]:
    """No filter, and one value of each filter that the council's cases use."""
    first = cases[0]
    return [
        {},
        {"ward": first.ward_id},
        {"category": first.category},
        {"channel": "email"},
        {"raised_by": "staff"},
        {"service": "svc-02"},
        {"member": first.member_id, "channel": first.channel.value},
    ]


def _check_volumes(report: Report, cases: list[MemberCase], query: ReportQuery, names) -> None:
    selected = [c for c in cases if independent.matches(c, query)]
    for table in report.tables:
        dimension = DIMENSION_KEYS.get(table.key)
        if dimension is None:
            continue
        expected = {
            label_of(dimension, key, names): counts
            for key, counts in independent.by_key(selected, query, KEYS[dimension]).items()
        }
        assert _figures(table) == expected, table.key
        assert table.total == ("Total", *independent.tally(selected, query).as_tuple())
    trend = report.table("trend-by-month")
    assert trend is not None
    expected_months = independent.months(selected, query)
    for label, received, closed in trend.rows:
        month_name, year = str(label).split()
        key = (int(year), MONTHS.index(month_name) + 1)
        assert (received, closed) == expected_months.get(key, (0, 0)), label
    assert len(trend.rows) == len({(d.year, d.month) for d in _days(query)})


def _days(query: ReportQuery) -> list[date]:
    return [date.fromordinal(n) for n in range(query.start.toordinal(), query.end.toordinal() + 1)]


def _check_timeliness(
    table: Table, cases: list[MemberCase], query: ReportQuery, names, services=None
) -> None:
    selected = [c for c in cases if independent.matches(c, query, service=False)]
    expected = independent.timeliness(selected, query, services, today=TODAY)
    shown = _figures(table)
    assert set(shown) == {names.service(s) for s in expected if s is not None}
    for service_id, timing in expected.items():
        assert table.total is not None
        figures = table.total[1:] if service_id is None else shown[names.service(service_id)]
        assert figures[1:] == (
            timing.sent,
            timing.answered,
            timing.overdue,
            timing.median_response,
            timing.p90_response,
            timing.median_closure,
            timing.p90_closure,
            timing.share,
        ), service_id


@pytest.mark.parametrize("who", ["councillor", "members-services", "team-leader"])
def test_volumes_trend_and_timeliness_match_an_independent_count(council, everything, who) -> None:
    reports = _reports(council)
    viewer = council.viewers[who]
    visible = _visible(council, viewer, everything)
    assert visible, "the council gives this viewer cases to count"
    names = StoreDirectory(council.store).names()
    for start, end in PERIODS:
        for chosen in _filters(council, visible):
            values = {"from": start.isoformat(), "to": end.isoformat(), **chosen}
            query = reports.query(viewer, values, NOW, scrutiny=False)
            report = reports.report(viewer, query, NOW)
            _check_volumes(report, visible, query, names)
            timeliness = report.table("timeliness-by-service")
            assert timeliness is not None
            _check_timeliness(timeliness, visible, query, names)


def test_a_service_officer_sees_only_their_services_timeliness(council, everything) -> None:
    reports = _reports(council)
    viewer = council.viewers["service-officer"]
    names = StoreDirectory(council.store).names()
    query = reports.query(viewer, {"from": "2024-06-01"}, NOW, scrutiny=False)
    report = reports.report(viewer, query, NOW)
    assert [t.key for t in report.tables] == ["timeliness-by-service"]
    assert report.totals is None
    visible = _visible(council, viewer, everything)
    _check_timeliness(report.tables[0], visible, query, names, viewer.service_ids)
    assert {str(row[0]) for row in report.tables[0].rows} <= {
        names.service(s) for s in viewer.service_ids
    }


def test_a_member_sees_ward_and_council_totals_as_counts_only(council, everything) -> None:
    reports = _reports(council)
    viewer = council.viewers["councillor"]
    query = reports.query(viewer, {"from": "2025-06-01", "channel": "email"}, NOW, scrutiny=False)
    report = reports.report(viewer, query, NOW)
    assert report.totals is not None
    whole = ReportQuery(query.start, query.end, query.as_of)  # totals ignore the filters
    own = [c for c in _visible(council, viewer, everything) if independent.matches(c, whole)]
    ward = [c for c in everything if c.ward_id == viewer.ward_id and independent.matches(c, whole)]
    council_wide = [c for c in everything if independent.matches(c, whole)]
    rows = _figures(report.totals)
    assert rows["Your cases"] == independent.tally(own, whole).as_tuple()
    assert rows["Your ward"] == independent.tally(ward, whole).as_tuple()
    assert rows["The council"] == independent.tally(council_wide, whole).as_tuple()
    assert report.totals.headings == ("Cases", "Received", "Open", "Closed", "Overdue")


def test_scrutiny_report_defaults_to_the_last_complete_half_year(council) -> None:
    reports = _reports(council)
    viewer = council.viewers["team-leader"]
    query = reports.query(viewer, {}, NOW, scrutiny=True)
    assert (query.start, query.end) == (date(2025, 10, 1), date(2026, 3, 31))
    assert query.as_of == query.end


def test_published_scrutiny_report_withholds_small_counts_and_keeps_the_rest(
    council, everything
) -> None:
    reports = _reports(council)
    viewer = council.viewers["team-leader"]
    query = reports.query(viewer, {}, NOW, scrutiny=True)
    internal = reports.scrutiny(viewer, query, NOW, published=False)
    published = reports.scrutiny(viewer, query, NOW, published=True)
    assert [t.key for t in internal.tables] == [t.key for t in published.tables]
    # In full, the scrutiny report's figures are the team leader's, checked above.
    names = StoreDirectory(council.store).names()
    _check_volumes(
        Report(query, "", internal.tables), _visible(council, viewer, everything), query, names
    )
    withheld_any = False
    for full, shown in zip(internal.tables, published.tables, strict=True):
        assert "member" not in full.key  # never by councillor in the committee's report
        assert full.total is not None and shown.total is not None
        for full_row, shown_row in zip(
            [*full.rows, full.total], [*shown.rows, shown.total], strict=True
        ):
            for column, (truth, value) in enumerate(zip(full_row, shown_row, strict=True)):
                if value is WITHHELD:
                    withheld_any = True
                    continue
                assert value == truth
                if column in full.counts:
                    assert not (isinstance(truth, int) and 0 < truth < 5), (full.key, full_row)
        for column in full.counts:
            hidden = [
                count
                for i, row in enumerate(shown.rows)
                if row[column] is WITHHELD and isinstance(count := full.rows[i][column], int)
            ]
            if hidden and shown.total[column] is not WITHHELD:
                # no withheld count can be worked out from the total and the rest
                assert len(hidden) >= 2 and sum(hidden) >= 5, (full.key, column, hidden)
    assert withheld_any, "the half-year has small counts to withhold"


def test_members_services_see_only_the_members_they_support(council, everything) -> None:
    reports = _reports(council)
    viewer = council.viewers["members-services"]
    query = reports.query(viewer, {"from": "2024-06-01"}, NOW, scrutiny=False)
    table = reports.report(viewer, query, NOW).table("volumes-by-member")
    assert table is not None
    by_member = _figures(table)
    names = StoreDirectory(council.store).names()
    assert set(by_member) == {names.member(m) for m in viewer.supported_member_ids}
