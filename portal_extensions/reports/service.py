"""Reports for a viewer: what they may see, computed through the access policy.

* A member: figures for their own cases (`Reason.OWN_CASE`: not the ward colleagues' cases
  shared with them, which are the constituents' choice for casework, not for statistics), plus
  their ward's and the council's totals as four counts only. A total is withheld when the cases
  in it that the member may not see number from 1 to the threshold less one, so a count can
  never point at a colleague's private case.
* Members' Services: the members they support. A team leader: every case.
* A service officer: their services' timeliness only, over the cases sent to them.
* An administrator: nothing (the page is not theirs).

Never a ranking of officers: no figure is broken down by who answered.
The scrutiny report is the team leader's or Members' Services' own scope, published with small
counts withheld (`suppression`), or in full for internal use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from portal_extensions.access import Reason, Role, Viewer, council_day
from portal_extensions.casework.working_days import Nation
from portal_extensions.reports.figures import (
    add,
    period_text,
    timeliness_table,
    totals_table,
    trend_table,
    volume_table,
)
from portal_extensions.reports.filters import (
    FilterChoices,
    build_query,
    default_period,
    last_complete_half_year,
)
from portal_extensions.reports.suppression import suppress
from portal_extensions.reports.tables import Table
from portal_extensions.store.directory import Choice, DirectoryNames, ServiceContact
from portal_extensions.store.reports import (
    Counts,
    DayCount,
    Dimension,
    ReportQuery,
    RequestGroup,
    VolumeRow,
)

REPORT_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension.WARD,
    Dimension.MEMBER,
    Dimension.SERVICE,
    Dimension.CATEGORY,
    Dimension.CHANNEL,
    Dimension.RAISED_BY,
)
#: The scrutiny report: types of enquiry, where and by whom they came; never by councillor.
SCRUTINY_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension.CATEGORY,
    Dimension.WARD,
    Dimension.RAISED_BY,
    Dimension.CHANNEL,
    Dimension.SERVICE,
)
VOLUME_ROLES = frozenset({Role.MEMBER, Role.MEMBERS_SERVICES, Role.TEAM_LEADER})
SCRUTINY_ROLES = frozenset({Role.MEMBERS_SERVICES, Role.TEAM_LEADER})
SCOPE_TEXT: Mapping[Role, str] = {
    Role.MEMBER: "your own cases",
    Role.MEMBERS_SERVICES: "the cases of the members you support",
    Role.TEAM_LEADER: "every case in Caseload",
    Role.SERVICE_OFFICER: "requests sent to your service",
}


class ReportRows(Protocol):
    """The store's report queries (`store.reports.StoreReports`)."""

    def volumes(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: frozenset[Reason],
        query: ReportQuery,
        dimensions: tuple[Dimension, ...],
    ) -> dict[Dimension, list[VolumeRow]]: ...

    def days(
        self, viewer: Viewer, now: datetime, reasons: frozenset[Reason], query: ReportQuery
    ) -> list[DayCount]: ...

    def service_requests(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: frozenset[Reason],
        query: ReportQuery,
        services: frozenset[str] | None = None,
    ) -> list[RequestGroup]: ...

    def totals(self, query: ReportQuery, ward_id: str | None) -> Counts: ...


class ReportDirectory(Protocol):
    """Names and response targets (`store.directory.StoreDirectory`)."""

    def names(self) -> DirectoryNames: ...

    def service_contacts(self) -> list[ServiceContact]: ...


class ReportRefused(Exception):
    """This viewer has no such report (the page table lets them in, the report does not)."""


@dataclass(frozen=True, slots=True)
class Report:
    """What the Reports page shows one viewer."""

    query: ReportQuery
    scope: str
    tables: tuple[Table, ...]
    totals: Table | None = None
    choices: FilterChoices = field(default_factory=FilterChoices)

    def table(self, key: str) -> Table | None:
        return next((t for t in self.all_tables if t.key == key), None)

    @property
    def all_tables(self) -> tuple[Table, ...]:
        return (*self.tables, *([self.totals] if self.totals is not None else []))


@dataclass(frozen=True, slots=True)
class ScrutinyReport:
    """The six-monthly report on types of enquiry, for a committee."""

    council_name: str
    query: ReportQuery
    scope: str
    published: bool
    threshold: int
    tables: tuple[Table, ...]
    made_on: date

    @property
    def title(self) -> str:
        return f"Councillors' enquiries: {period_text(self.query)}"

    @property
    def heading(self) -> list[str]:
        """The lines above every table of an exported copy (a workbook's sheets)."""
        lines = [self.council_name, self.title, f"Covers {self.scope}"]
        if self.published:
            lines.append(f"Counts from 1 to {self.threshold - 1} are withheld, shown as [c].")
        else:
            lines.append("For internal use: not for publication.")
        return lines

    def table(self, key: str) -> Table | None:
        return next((t for t in self.tables if t.key == key), None)


def report_reasons(viewer: Viewer) -> frozenset[Reason]:
    """The grants a viewer's report counts: a member's own cases only; anyone else all theirs."""
    if viewer.role is Role.MEMBER:
        return frozenset({Reason.OWN_CASE})
    return frozenset(Reason)


class Reports:
    """Builds each viewer's report from the store's rows and the directory."""

    def __init__(
        self,
        rows: ReportRows,
        directory: ReportDirectory,
        *,
        nation: Nation,
        threshold: int,
        council_name: str,
    ) -> None:
        self.rows = rows
        self.directory = directory
        self.nation = nation
        self.threshold = threshold
        self.council_name = council_name

    # --------------------------------------------------------------------------- choices

    def choices(self, viewer: Viewer) -> FilterChoices:
        """What each filter offers this viewer (a member: only themselves as councillor)."""
        names = self.directory.names()
        members = sorted(names.members.items(), key=lambda pair: pair[1].casefold())
        if viewer.role is Role.MEMBER:
            members = [pair for pair in members if pair[0] == viewer.member_id]
        elif viewer.role is Role.MEMBERS_SERVICES:
            members = [pair for pair in members if pair[0] in viewer.supported_member_ids]
        services = sorted(names.services.items(), key=lambda pair: pair[1].casefold())
        if viewer.role is Role.SERVICE_OFFICER:
            services = [pair for pair in services if pair[0] in viewer.service_ids]

        def listed(pairs: list[tuple[str, str]]) -> tuple[Choice, ...]:
            return tuple(Choice(key, name) for key, name in pairs)

        return FilterChoices(
            wards=listed(sorted(names.wards.items(), key=lambda pair: pair[1].casefold())),
            members=listed(members),
            services=listed(services),
            categories=listed(sorted(names.categories.items(), key=lambda p: p[1].casefold())),
        )

    def query(
        self, viewer: Viewer, values: Mapping[str, str | None], now: datetime, *, scrutiny: bool
    ) -> ReportQuery:
        """The period and filters asked for (`FilterError` when they are not usable)."""
        today = council_day(now)
        default = last_complete_half_year(today) if scrutiny else default_period(today)
        return build_query(values, today=today, choices=self.choices(viewer), default=default)

    # --------------------------------------------------------------------------- reports

    def _targets(self) -> dict[str, int]:
        return {
            contact.service_id: contact.response_target_working_days
            for contact in self.directory.service_contacts()
        }

    def _volume_tables(
        self,
        viewer: Viewer,
        now: datetime,
        query: ReportQuery,
        dimensions: tuple[Dimension, ...],
        names: DirectoryNames,
    ) -> list[Table]:
        reasons = report_reasons(viewer)
        found = self.rows.volumes(viewer, now, reasons, query, dimensions)
        tables = [volume_table(d, found[d], names, query) for d in dimensions]
        tables.append(trend_table(self.rows.days(viewer, now, reasons, query), query))
        return tables

    def _timeliness(
        self, viewer: Viewer, now: datetime, query: ReportQuery, names: DirectoryNames
    ) -> Table:
        services = viewer.service_ids if viewer.role is Role.SERVICE_OFFICER else None
        groups = self.rows.service_requests(viewer, now, report_reasons(viewer), query, services)
        return timeliness_table(
            groups, self._targets(), names, query, self.nation, council_day(now)
        )

    def report(self, viewer: Viewer, query: ReportQuery, now: datetime) -> Report:
        """The Reports page's figures for this viewer."""
        if viewer.role not in SCOPE_TEXT:
            raise ReportRefused(f"{viewer.role.value} has no reports")
        names = self.directory.names()
        tables: list[Table] = []
        totals = None
        if viewer.role in VOLUME_ROLES:
            tables += self._volume_tables(viewer, now, query, REPORT_DIMENSIONS, names)
            if viewer.role is Role.MEMBER:
                totals = self._member_totals(viewer, now, query)
        tables.append(self._timeliness(viewer, now, query, names))
        return Report(query, SCOPE_TEXT[viewer.role], tuple(tables), totals, self.choices(viewer))

    def _member_totals(self, viewer: Viewer, now: datetime, query: ReportQuery) -> Table:
        """The member's own counts beside their ward's and the council's, over the period
        alone (the other filters narrow the member's figures, not these totals)."""
        whole = ReportQuery(query.start, query.end, query.as_of)
        own = self.rows.volumes(viewer, now, report_reasons(viewer), whole, (Dimension.WARD,))
        mine_by_ward = {row.key: row.counts for row in own[Dimension.WARD]}
        mine = add(mine_by_ward.values())
        ward = self.rows.totals(whole, viewer.ward_id)
        council = self.rows.totals(whole, None)
        return totals_table(
            "totals",
            "Your cases beside your ward and the council",
            [
                ("Your cases", mine),
                ("Your ward", self._withheld_if_revealing(ward, mine_by_ward.get(viewer.ward_id))),
                ("The council", self._withheld_if_revealing(council, mine)),
            ],
        )

    def _withheld_if_revealing(self, total: Counts, mine: Counts | None) -> Counts | None:
        """None (withheld) when, for any figure, the cases of others in the total number from
        1 to the threshold less one: such a count would point at a case the member may not see."""
        own = mine or Counts()
        for name in ("received", "open", "closed", "overdue"):
            others = getattr(total, name) - getattr(own, name)
            if 0 < others < self.threshold:
                return None
        return total

    def scrutiny(
        self, viewer: Viewer, query: ReportQuery, now: datetime, *, published: bool = True
    ) -> ScrutinyReport:
        """The six-monthly report over the viewer's scope; `published`: small counts withheld."""
        if viewer.role not in SCRUTINY_ROLES:
            raise ReportRefused(f"{viewer.role.value} has no scrutiny report")
        names = self.directory.names()
        tables = self._volume_tables(viewer, now, query, SCRUTINY_DIMENSIONS, names)
        tables.append(self._timeliness(viewer, now, query, names))
        if published:
            tables = [suppress(table, self.threshold) for table in tables]
        return ScrutinyReport(
            council_name=self.council_name,
            query=query,
            scope=SCOPE_TEXT[viewer.role],
            published=published,
            threshold=self.threshold,
            tables=tuple(tables),
            made_on=council_day(now),
        )


__all__ = [
    "REPORT_DIMENSIONS",
    "SCRUTINY_DIMENSIONS",
    "SCRUTINY_ROLES",
    "Report",
    "ReportDirectory",
    "ReportRefused",
    "ReportRows",
    "Reports",
    "ScrutinyReport",
    "report_reasons",
]
