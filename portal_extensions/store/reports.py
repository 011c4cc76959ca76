"""The SQL behind reports: volumes by dimension and by day, service requests for timeliness, and
ward and council totals.

Every figure a viewer sees is read through the access policy's own where-clauses
(`access.visible_cases_parts`, limited to the grants `reasons` names), like every list. The
one exception is `totals`, the ward and council counts shown to a member beside their own
figures: it reads no case row, only four counts, and `reports` withholds them when they could
point at a case the member may not see.

Days are council days (`received_day`, `closed_day`, written with the case), so periods and
months mean the same on SQLite and PostgreSQL. Working days and percentiles are computed in
`portal_extensions.reports` from the grouped rows read here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from mappings.model import CaseStatus
from portal_extensions.access import Reason, Viewer, visible_cases_parts
from portal_extensions.store.case_reads import party_members
from portal_extensions.store.cases import access_columns
from portal_extensions.store.database import Store
from portal_extensions.store.schema import case_service_requests, cases


class Dimension(StrEnum):
    """What a volume table is broken down by (never by officer: services are not ranked by
    who answered)."""

    WARD = "ward"
    MEMBER = "member"
    SERVICE = "service"
    CATEGORY = "category"
    CHANNEL = "channel"
    RAISED_BY = "raised_by"


_DIMENSION_COLUMNS: dict[Dimension, sa.Column[Any]] = {
    Dimension.WARD: cases.c.ward_id,
    Dimension.MEMBER: cases.c.member_id,
    Dimension.SERVICE: cases.c.service_id,
    Dimension.CATEGORY: cases.c.category,
    Dimension.CHANNEL: cases.c.channel,
    Dimension.RAISED_BY: cases.c.raised_by,
}


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """A report's period (council days, both ends included), the day its open and overdue
    figures are taken on (`as_of`: the period's end, or today if that is earlier), and the
    filters chosen (None: all)."""

    start: date
    end: date
    as_of: date
    ward_id: str | None = None
    member_id: str | None = None
    service_id: str | None = None
    category: str | None = None
    channel: str | None = None
    raised_by: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True, slots=True)
class Counts:
    """The four volume figures of a group of cases."""

    received: int = 0
    open: int = 0
    closed: int = 0
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class VolumeRow:
    key: str | None  # the dimension's value (None: not set, e.g. no service)
    counts: Counts


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    received: int
    closed: int


@dataclass(frozen=True, slots=True)
class RequestGroup:
    """Requests to one service with the same days, and how many there were."""

    service_id: str
    sent_day: date
    response_due: date
    responded_day: date | None
    closed_day: date | None  # the case's closure, if it is closed
    count: int


class _Days:
    """A day column's value as a `date`: PostgreSQL's driver gives dates, SQLite's gives
    ISO text (each distinct text converted once)."""

    def __init__(self) -> None:
        self.seen: dict[str, date] = {}

    def day(self, value: str | date) -> date:
        if isinstance(value, date):
            return value
        found = self.seen.get(value)
        if found is None:
            found = self.seen[value] = date.fromisoformat(value)
        return found

    def maybe(self, value: str | date | None) -> date | None:
        return None if value is None else self.day(value)


_CLOSED = CaseStatus.CLOSED.value
_DRAFT = CaseStatus.DRAFT.value
_OPEN = tuple(s.value for s in CaseStatus if s not in (CaseStatus.CLOSED, CaseStatus.DRAFT))


class StoreReports:
    """The report figures over the store's case index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.columns = access_columns()

    # ------------------------------------------------------------------ the shared filter

    def _visible(
        self, conn: sa.Connection, viewer: Viewer, now: datetime, reasons: Collection[Reason]
    ) -> sa.ColumnElement[bool] | None:
        """The access rule for this viewer (only the grants in `reasons`), or None when the
        viewer sees no case that way."""
        party = party_members(conn, viewer) if Reason.PARTY_SHARING in reasons else None
        parts = visible_cases_parts(viewer, now, self.columns, party, reasons)
        return sa.or_(*parts) if parts else None

    @staticmethod
    def _filters(query: ReportQuery, *, service: bool = True) -> list[sa.ColumnElement[bool]]:
        c = cases.c
        chosen: list[tuple[sa.ColumnElement[Any], str | None]] = [
            (c.ward_id, query.ward_id),
            (c.member_id, query.member_id),
            (c.category, query.category),
            (c.channel, query.channel),
            (c.raised_by, query.raised_by),
        ]
        if service:
            chosen.append((c.service_id, query.service_id))
        return [
            c.removed_at.is_(None),
            c.status != _DRAFT,
            *(column == value for column, value in chosen if value is not None),
        ]

    @staticmethod
    def _counted(query: ReportQuery) -> tuple[sa.ColumnElement[Any], ...]:
        """received, open, closed, overdue: sums over the cases active in the period."""
        c = cases.c
        closed_by_then = sa.and_(c.status == _CLOSED, c.closed_day <= query.as_of)
        still_open = sa.and_(c.received_day <= query.as_of, sa.not_(closed_by_then))

        def total(condition: sa.ColumnElement[bool], label: str) -> sa.ColumnElement[Any]:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0).label(label)

        return (
            total(c.received_day >= query.start, "received"),
            total(still_open, "open"),
            total(
                sa.and_(c.status == _CLOSED, c.closed_day.between(query.start, query.end)),
                "closed",
            ),
            total(sa.and_(still_open, c.target_date < query.as_of), "overdue"),
        )

    @staticmethod
    def _active_parts(query: ReportQuery) -> tuple[sa.ColumnElement[bool], ...]:
        """The cases a volume figure can count (received by the period's end and not closed
        before it started; `closed_day` may be set on a reopened case, so status decides), as
        three disjoint parts, each a range of one index (`ix_cases_report` by the day received,
        `ix_cases_report_status` by status and day closed), so a report reads the period's
        cases and the open ones, never the whole index: received in the period; received
        before it and still open; received before it and closed in or after it."""
        c = cases.c
        return (
            c.received_day.between(query.start, query.end),
            sa.and_(c.status.in_(_OPEN), c.received_day < query.start),
            sa.and_(c.status == _CLOSED, c.closed_day >= query.start, c.received_day < query.start),
        )

    # ------------------------------------------------------------------------- the figures

    def volumes(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: Collection[Reason],
        query: ReportQuery,
        dimensions: Collection[Dimension],
    ) -> dict[Dimension, list[VolumeRow]]:
        """For each dimension, the four counts per value, over the cases the viewer may see.

        One pass over the index: the counts are grouped by every dimension at once (a few
        thousand groups however many cases) and added up here for each dimension asked for."""
        columns = [_DIMENSION_COLUMNS[d] for d in dimensions]
        with self.store.read() as conn:
            visible = self._visible(conn, viewer, now, reasons)
            if visible is None:
                return {dimension: [] for dimension in dimensions}
            where = [visible, *self._filters(query)]
            rows = [
                row
                for part in self._active_parts(query)
                for row in conn.execute(
                    sa.select(*columns, *self._counted(query))
                    .where(part, *where)
                    .group_by(*columns)
                ).all()
            ]
        width = len(columns)
        found: list[dict[str | None, list[int]]] = [{} for _ in dimensions]
        for row in rows:
            received, still_open, closed, overdue = (int(n) for n in row[width:])
            for position, groups in enumerate(found):
                held = groups.get(row[position])
                if held is None:
                    groups[row[position]] = [received, still_open, closed, overdue]
                else:
                    held[0] += received
                    held[1] += still_open
                    held[2] += closed
                    held[3] += overdue
        return {
            dimension: [VolumeRow(key, Counts(*held)) for key, held in groups.items()]
            for dimension, groups in zip(dimensions, found, strict=True)
        }

    def days(
        self, viewer: Viewer, now: datetime, reasons: Collection[Reason], query: ReportQuery
    ) -> list[DayCount]:
        """Cases received and closed on each day of the period (for the monthly trend)."""
        c = cases.c
        with self.store.read() as conn:
            visible = self._visible(conn, viewer, now, reasons)
            if visible is None:
                return []
            where = [visible, *self._filters(query)]
            received = conn.execute(
                sa.select(c.received_day, sa.func.count())
                .where(*where, c.received_day.between(query.start, query.end))
                .group_by(c.received_day)
            ).all()
            closed = conn.execute(
                sa.select(c.closed_day, sa.func.count())
                .where(c.status == _CLOSED, c.closed_day.between(query.start, query.end), *where)
                .group_by(c.closed_day)
            ).all()
        by_day: dict[date, list[int]] = {}
        for day, count in received:
            by_day.setdefault(day, [0, 0])[0] = int(count)
        for day, count in closed:
            by_day.setdefault(day, [0, 0])[1] = int(count)
        return [DayCount(day, *by_day[day]) for day in sorted(by_day)]

    def service_requests(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: Collection[Reason],
        query: ReportQuery,
        services: Collection[str] | None = None,
    ) -> list[RequestGroup]:
        """Requests sent to services in the period, grouped by service and days, over the
        cases the viewer may see; `services` limits them to those services (a service
        officer's own). The service filter applies to the request's service."""
        r = case_service_requests.c
        with self.store.read() as conn:
            visible = self._visible(conn, viewer, now, reasons)
            if visible is None:
                return []
            closed_day = sa.case((cases.c.status == _CLOSED, cases.c.closed_day), else_=None)
            where = [
                visible,
                *self._filters(query, service=False),
                r.sent_day.between(query.start, query.end),
            ]
            if query.service_id is not None:
                where.append(r.service_id == query.service_id)
            if services is not None:
                where.append(r.service_id.in_(sorted(services)) if services else sa.false())
            grouped = (r.service_id, r.sent_day, r.response_due, r.responded_day, closed_day)
            # The days as the driver gives them: SQLAlchemy's date conversion on SQLite costs
            # more than the query itself for tens of thousands of rows (`_Days` converts).
            rows = conn.execute(
                sa.select(
                    r.service_id,
                    *(sa.type_coerce(column, sa.String) for column in grouped[1:]),
                    sa.func.count().label("count"),
                )
                .select_from(case_service_requests.join(cases, cases.c.portal_id == r.portal_id))
                .where(*where)
                .group_by(*grouped)
            ).all()
        days = _Days()
        return [
            RequestGroup(
                row[0],
                days.day(row[1]),
                days.day(row[2]),
                days.maybe(row[3]),
                days.maybe(row[4]),
                int(row[5]),
            )
            for row in rows
        ]

    def totals(self, query: ReportQuery, ward_id: str | None) -> Counts:
        """The four counts over every case of a ward (or the council, for None) in the
        period, whoever may see them; no other filter. Only counts leave this method."""
        where = [cases.c.removed_at.is_(None), cases.c.status != _DRAFT]
        if ward_id is not None:
            where.append(cases.c.ward_id == ward_id)
        statement = sa.union_all(
            *(
                sa.select(*self._counted(query)).where(part, *where)
                for part in self._active_parts(query)
            )
        )
        with self.store.read() as conn:
            rows = conn.execute(statement).all()
        return Counts(*(sum(int(row[i]) for row in rows) for i in range(4)))

    def count_all(self) -> int:
        """Every live case in the index (the benchmarks' baseline: one COUNT(*) on an index)."""
        with self.store.read() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(cases)
                    .where(cases.c.removed_at.is_(None))
                ).scalar_one()
            )


__all__ = [
    "Counts",
    "DayCount",
    "Dimension",
    "ReportQuery",
    "RequestGroup",
    "StoreReports",
    "VolumeRow",
]
