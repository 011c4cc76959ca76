"""The report figures computed a second way, in plain Python over the cases' records: no report
SQL, no `reports.figures`, working days counted day by day from the `holidays` calendar.

Used by the tests to check every figure the reports show."""

from __future__ import annotations

import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import holidays

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase, ServiceRequest
from portal_extensions.access import CaseFacts, Reason, Role, Viewer, can_view_case
from portal_extensions.store.reports import ReportQuery

NATION_CODES = {"england": "ENG", "wales": "WLS", "scotland": "SCT", "northern_ireland": "NIR"}


def day_of(moment: datetime) -> date:
    return moment.astimezone(COUNCIL_ZONE).date()


def counted_in_report(viewer: Viewer, case: MemberCase, party: str | None, now: datetime) -> bool:
    """The case policy's Python check; a member's report counts their own cases only."""
    decision = can_view_case(viewer, CaseFacts.from_case(case, party), now)
    if viewer.role is Role.MEMBER:
        return decision.allowed and decision.reason is Reason.OWN_CASE
    return decision.allowed


def matches(case: MemberCase, query: ReportQuery, *, service: bool = True) -> bool:
    wanted: list[tuple[str | None, str | None]] = [
        (case.ward_id, query.ward_id),
        (case.member_id, query.member_id),
        (case.category, query.category),
        (case.channel.value, query.channel),
        (case.raised_by.value, query.raised_by),
    ]
    if service:
        wanted.append((case.service_id, query.service_id))
    return case.status is not CaseStatus.DRAFT and all(
        want is None or have == want for have, want in wanted
    )


@dataclass
class Tally:
    received: int = 0
    open: int = 0
    closed: int = 0
    overdue: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.received, self.open, self.closed, self.overdue)


def tally(cases: Iterable[MemberCase], query: ReportQuery) -> Tally:
    found = Tally()
    for case in cases:
        received = day_of(case.received_at)
        closed = day_of(case.closed_at) if case.closed_at else None
        is_closed = case.status is CaseStatus.CLOSED
        if query.start <= received <= query.end:
            found.received += 1
        if is_closed and closed is not None and query.start <= closed <= query.end:
            found.closed += 1
        closed_by_then = is_closed and closed is not None and closed <= query.as_of
        if received <= query.as_of and not closed_by_then:
            found.open += 1
            if case.target_date is not None and case.target_date < query.as_of:
                found.overdue += 1
    return found


def by_key(
    cases: list[MemberCase], query: ReportQuery, key: Callable[[MemberCase], str | None]
) -> dict[str | None, tuple[int, ...]]:
    groups: dict[str | None, list[MemberCase]] = defaultdict(list)
    for case in cases:
        groups[key(case)].append(case)
    found = {k: tally(v, query).as_tuple() for k, v in groups.items()}
    return {k: v for k, v in found.items() if any(v)}


def months(cases: list[MemberCase], query: ReportQuery) -> dict[tuple[int, int], tuple[int, int]]:
    received: Counter[tuple[int, int]] = Counter()
    closed: Counter[tuple[int, int]] = Counter()
    for case in cases:
        day = day_of(case.received_at)
        if query.start <= day <= query.end:
            received[(day.year, day.month)] += 1
        if case.status is CaseStatus.CLOSED and case.closed_at is not None:
            day = day_of(case.closed_at)
            if query.start <= day <= query.end:
                closed[(day.year, day.month)] += 1
    return {m: (received[m], closed[m]) for m in set(received) | set(closed)}


@functools.cache
def _calendar(nation: str) -> holidays.HolidayBase:
    return holidays.country_holidays("GB", subdiv=NATION_CODES[nation], years=range(2020, 2031))


def working_days(start: date, end: date, nation: str = "england") -> int:
    """Counted one day at a time: weekdays after `start` up to `end` that are not holidays."""
    calendar = _calendar(nation)
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in calendar:
            count += 1
    return count


def nearest_rank(values: list[int], percent: int) -> int | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(len(ordered) * percent / 100) - 1]


@dataclass
class ServiceTiming:
    sent: int
    answered: int
    overdue: int
    median_response: int | None
    p90_response: int | None
    median_closure: int | None
    p90_closure: int | None
    share: float | None


def timeliness(
    cases: list[MemberCase],
    query: ReportQuery,
    services: frozenset[str] | None = None,
    nation: str = "england",
    *,
    today: date,
) -> dict[str | None, ServiceTiming]:
    """Per service id (None: all services together)."""
    requests: dict[str | None, list[tuple[MemberCase, ServiceRequest]]] = defaultdict(list)
    for case in cases:
        for request in case.service_requests:
            if not query.start <= day_of(request.sent_at) <= query.end:
                continue
            if query.service_id is not None and request.service_id != query.service_id:
                continue
            if services is not None and request.service_id not in services:
                continue
            requests[request.service_id].append((case, request))
            requests[None].append((case, request))
    found = {}
    for service_id, items in requests.items():
        answered = overdue = within = 0
        to_response: list[int] = []
        to_closure: list[int] = []
        for case, request in items:
            sent = day_of(request.sent_at)
            responded = day_of(request.responded_at) if request.responded_at else None
            if responded is not None:
                answered += 1
                within += responded <= request.response_due
                to_response.append(working_days(sent, responded, nation))
            elif request.response_due < today:
                overdue += 1
            if case.status is CaseStatus.CLOSED and case.closed_at is not None:
                closed = day_of(case.closed_at)
                if sent <= closed:
                    to_closure.append(working_days(sent, closed, nation))
        known = answered + overdue
        found[service_id] = ServiceTiming(
            sent=len(items),
            answered=answered,
            overdue=overdue,
            median_response=nearest_rank(to_response, 50),
            p90_response=nearest_rank(to_response, 90),
            median_closure=nearest_rank(to_closure, 50),
            p90_closure=nearest_rank(to_closure, 90),
            share=round(100 * within / known, 1) if known else None,
        )
    return found
