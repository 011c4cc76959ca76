"""The report's figures, computed from the store's grouped rows: volume tables by each
dimension, the monthly trend, and timeliness per service in working days.

Working days are the product's one rule (`casework.working_days`, the council's nation's bank
holidays skipped); percentiles are nearest-rank, so "median 4" reads "half were answered within
4 working days" and every figure is a whole number of days that some request actually took.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from mappings.model import Channel, RaisedBy
from portal_extensions.casework.working_days import Nation, working_days_between
from portal_extensions.reports.tables import WITHHELD, Chart, Table, Value
from portal_extensions.store.directory import DirectoryNames
from portal_extensions.store.reports import (
    Counts,
    DayCount,
    Dimension,
    ReportQuery,
    RequestGroup,
    VolumeRow,
)

DIMENSION_HEADINGS: Mapping[Dimension, str] = {
    Dimension.WARD: "Ward",
    Dimension.MEMBER: "Councillor",
    Dimension.SERVICE: "Service",
    Dimension.CATEGORY: "Category",
    Dimension.CHANNEL: "How it came in",
    Dimension.RAISED_BY: "Raised by",
}
CHANNEL_NAMES: Mapping[str, str] = {
    Channel.SURGERY: "Surgery",
    Channel.EMAIL: "Email",
    Channel.PHONE: "Phone",
    Channel.LETTER: "Letter",
    Channel.STREET: "In the street",
    Channel.ONLINE: "Online",
}
RAISED_BY_NAMES: Mapping[str, str] = {
    RaisedBy.COUNCILLOR: "Councillor",
    RaisedBy.MP: "MP",
    RaisedBy.MSP: "MSP",
    RaisedBy.MS: "MS",
    RaisedBy.MEP: "MEP",
    RaisedBy.STAFF: "Staff on a member's behalf",
}
NOT_RECORDED = {Dimension.SERVICE: "Not sent to a service"}
VOLUME_HEADINGS = ("Received", "Open", "Closed", "Overdue")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def label_of(dimension: Dimension, key: str | None, names: DirectoryNames) -> str:
    """How a dimension's value is shown (the directory's name; the id if it has none)."""
    if key is None:
        return NOT_RECORDED.get(dimension, "Not recorded")
    lookup: Mapping[Dimension, Callable[[str], str]] = {
        Dimension.WARD: names.ward,
        Dimension.MEMBER: names.member,
        Dimension.SERVICE: names.service,
        Dimension.CATEGORY: names.category,
        Dimension.CHANNEL: lambda k: CHANNEL_NAMES.get(k, k),
        Dimension.RAISED_BY: lambda k: RAISED_BY_NAMES.get(k, k),
    }
    return lookup[dimension](key)


def _counts_row(label: str, counts: Counts) -> tuple[Value, ...]:
    return (label, counts.received, counts.open, counts.closed, counts.overdue)


def add(counts: Iterable[Counts]) -> Counts:
    found = list(counts)
    return Counts(
        sum(c.received for c in found),
        sum(c.open for c in found),
        sum(c.closed for c in found),
        sum(c.overdue for c in found),
    )


def period_text(query: ReportQuery) -> str:
    return f"{long_date(query.start)} to {long_date(query.end)}"


def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def volume_table(
    dimension: Dimension, rows: Sequence[VolumeRow], names: DirectoryNames, query: ReportQuery
) -> Table:
    """Cases by one dimension: received, open, closed and overdue, with their total."""
    heading = DIMENSION_HEADINGS[dimension]
    labelled = sorted(
        ((label_of(dimension, row.key, names), row.counts) for row in rows),
        key=lambda pair: pair[0].casefold(),
    )
    return Table(
        key=f"volumes-by-{dimension.value.replace('_', '-')}",
        title=f"Cases by {heading.lower()}",
        headings=(heading, *VOLUME_HEADINGS),
        rows=tuple(_counts_row(label, counts) for label, counts in labelled),
        total=_counts_row("Total", add(counts for _, counts in labelled)),
        counts=(1, 2, 3, 4),
        chart=Chart(
            "bar",
            (1,),
            f"Bar chart of cases received by {heading.lower()}, {period_text(query)}",
        ),
    )


def months_of(query: ReportQuery) -> list[tuple[int, int]]:
    """Every (year, month) the period touches, in order."""
    found: list[tuple[int, int]] = []
    year, month = query.start.year, query.start.month
    while (year, month) <= (query.end.year, query.end.month):
        found.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def trend_table(days: Sequence[DayCount], query: ReportQuery) -> Table:
    """Cases received and closed in each month of the period (every month, zeros included)."""
    by_month = {month: [0, 0] for month in months_of(query)}
    for day in days:
        held = by_month[(day.day.year, day.day.month)]
        held[0] += day.received
        held[1] += day.closed
    rows = tuple(
        (f"{MONTHS[month - 1]} {year}", received, closed)
        for (year, month), (received, closed) in by_month.items()
    )
    return Table(
        key="trend-by-month",
        title="Cases received and closed by month",
        headings=("Month", "Received", "Closed"),
        rows=rows,
        total=("Total", sum(v[0] for v in by_month.values()), sum(v[1] for v in by_month.values())),
        counts=(1, 2),
        chart=Chart(
            "line",
            (1, 2),
            f"Line chart of cases received and closed each month, {period_text(query)}",
        ),
    )


def nearest_rank(values: Sequence[int], percent: int) -> int | None:
    """The smallest value that at least `percent`% of `values` do not exceed (None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(percent / 100 * len(ordered)), 1) - 1]


@dataclass
class _Timing:
    sent: int = 0
    answered: int = 0
    within: int = 0
    overdue: int = 0

    def __post_init__(self) -> None:
        self.to_response: list[int] = []
        self.to_closure: list[int] = []

    def take(
        self,
        group: RequestGroup,
        today: date,
        to_response: int | None,
        to_closure: int | None,
    ) -> None:
        """Count a group of requests, with their working days to the response and to the
        case's closure (None: not answered, not closed)."""
        count = group.count
        self.sent += count
        if group.responded_day is not None and to_response is not None:
            self.answered += count
            self.within += count if group.responded_day <= group.response_due else 0
            self.to_response += [to_response] * count
        elif group.response_due < today:
            self.overdue += count
        if to_closure is not None:
            self.to_closure += [to_closure] * count

    def row(self, label: str, target: Value) -> tuple[Value, ...]:
        known = self.answered + self.overdue
        share = round(100 * self.within / known, 1) if known else None
        return (
            label,
            target,
            self.sent,
            self.answered,
            self.overdue,
            nearest_rank(self.to_response, 50),
            nearest_rank(self.to_response, 90),
            nearest_rank(self.to_closure, 50),
            nearest_rank(self.to_closure, 90),
            share,
        )


TIMELINESS_HEADINGS = (
    "Service",
    "Target (working days)",
    "Requests sent",
    "Answered",
    "Still overdue",
    "Median working days to response",
    "90th percentile working days to response",
    "Median working days to closure",
    "90th percentile working days to closure",
    "Answered within target (%)",
)


def timeliness_table(
    groups: Sequence[RequestGroup],
    targets: Mapping[str, int],
    names: DirectoryNames,
    query: ReportQuery,
    nation: Nation,
    today: date,
) -> Table:
    """Per service, for the requests sent to it in the period, as known `today` (a request
    sent late in a past period and answered since counts as answered): how many were
    answered, how many are still overdue (unanswered and past their due day), the median and
    90th percentile working days from sending to the response and to the case's closure, and
    the share answered by the due day among those answered or overdue."""
    by_service: dict[str, _Timing] = {}
    overall = _Timing()
    for group in groups:
        sent = group.sent_day
        responded = group.responded_day
        closed = group.closed_day
        to_response = working_days_between(sent, responded, nation) if responded else None
        to_closure = (
            working_days_between(sent, closed, nation) if closed and sent <= closed else None
        )
        by_service.setdefault(group.service_id, _Timing()).take(
            group, today, to_response, to_closure
        )
        overall.take(group, today, to_response, to_closure)
    rows = [
        timing.row(names.service(service_id), targets.get(service_id))
        for service_id, timing in by_service.items()
    ]
    return Table(
        key="timeliness-by-service",
        title="Timeliness by service",
        headings=TIMELINESS_HEADINGS,
        rows=tuple(sorted(rows, key=lambda row: str(row[0]).casefold())),
        total=overall.row("All services", None),
        counts=(2, 3, 4),
        derived=(5, 6, 7, 8, 9),
        chart=Chart(
            "bar",
            (1, 5),
            "Bar chart of each service's median working days to respond against its target,"
            f" for requests sent {period_text(query)}",
        ),
        notes=(
            "Working days skip weekends and the council's bank holidays.",
            "Percentiles are nearest-rank: the median is the number of working days within"
            " which at least half the requests were answered.",
            f"Requests sent in the period, as they stood on {long_date(today)}. Still overdue:"
            " not answered yet and past the day the response was due.",
        ),
    )


def totals_table(key: str, title: str, rows: Sequence[tuple[str, Counts | None]]) -> Table:
    """Counts only (a member's ward and council totals); None: withheld."""
    return Table(
        key=key,
        title=title,
        headings=("Cases", *VOLUME_HEADINGS),
        rows=tuple(
            _counts_row(label, counts) if counts is not None else (label, *[WITHHELD] * 4)
            for label, counts in rows
        ),
    )


__all__ = [
    "CHANNEL_NAMES",
    "DIMENSION_HEADINGS",
    "RAISED_BY_NAMES",
    "add",
    "label_of",
    "long_date",
    "months_of",
    "nearest_rank",
    "period_text",
    "timeliness_table",
    "totals_table",
    "trend_table",
    "volume_table",
]
