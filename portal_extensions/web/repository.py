"""What the pages need from the case index: the interface the store implements.

Lists are always asked for *as a viewer*: an implementation must filter with
`access.visible_cases_clause` (SQL) or `access.visibility` (in memory), or with the parts of it
granted for the reasons a `Whose` choice names (`access.visibility_parts`), so a list never
shows a case whose page would refuse it. Single cases are fetched by id and then checked by
the page with `access.can_view_case`. `MemoryCaseRepository` is the reference implementation;
the store's (`store_adapters.StoreCaseRepository`) is tested against it
(`tests/portal/test_store_adapters.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase
from portal_extensions.access import (
    AnyOf,
    CaseFacts,
    Reason,
    Viewer,
    council_day,
    holds,
    visibility,
    visibility_parts,
)


class Bucket(StrEnum):
    """The groups of My caseload. A case may be in several (overdue cases are also open)."""

    OPEN = "open"
    OVERDUE = "overdue"
    AWAITING_SERVICE = "awaiting_service"
    RECENTLY_CLOSED = "recently_closed"


class Whose(StrEnum):
    """Whose cases a list shows, of those the viewer may see.

    A member's own cases (`OWN`) are kept apart from the colleagues' cases that name them as
    cover (`COVERING`), so My caseload is not a mix of other members' work. `ALL` is every case
    the viewer may see, and the only choice for roles that hold no cases of their own.
    """

    OWN = "own"
    COVERING = "covering"
    ALL = "all"


WHOSE_REASONS: Mapping[Whose, frozenset[Reason] | None] = {
    Whose.OWN: frozenset({Reason.OWN_CASE}),
    Whose.COVERING: frozenset({Reason.NAMED_COVER}),
    Whose.ALL: None,  # every grant
}
"""The access grants (`access.visibility_parts`) each choice is made of."""


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as the index holds it: the record, its access facts and write state."""

    case: MemberCase
    facts: CaseFacts
    queued: bool  # written locally and not yet confirmed by the CRM


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One row of a list: only fields every role that can see the case may see."""

    portal_id: uuid.UUID
    crm_reference: str | None
    title: str
    member_id: str
    status: CaseStatus
    received_at: datetime
    target_date: date | None
    queued: bool


@dataclass(frozen=True, slots=True)
class CaseListing:
    rows: list[CaseSummary]
    counts: Mapping[Bucket, int]
    total: int  # cases in the chosen bucket, of which `rows` is one page
    # Bucket counts of the other lists asked for with `also_count` (for example how many cases
    # a member covers, shown beside their own), counted in the same read.
    other_counts: Mapping[Whose, Mapping[Bucket, int]] = field(default_factory=dict)


OPEN_STATUSES: frozenset[CaseStatus] = frozenset(CaseStatus) - {CaseStatus.CLOSED, CaseStatus.DRAFT}


def in_bucket(case: MemberCase, bucket: Bucket, today: date, recently_closed_days: int) -> bool:
    """The definition of each bucket, over indexed columns only (status, target_date,
    closed_at), so an SQL implementation can match it exactly."""
    is_open = case.status in OPEN_STATUSES
    if bucket is Bucket.OPEN:
        return is_open
    if bucket is Bucket.OVERDUE:
        return is_open and case.target_date is not None and case.target_date < today
    if bucket is Bucket.AWAITING_SERVICE:
        return case.status is CaseStatus.WITH_SERVICE
    closed_on = case.closed_at.astimezone(COUNCIL_ZONE).date() if case.closed_at else None
    return (
        case.status is CaseStatus.CLOSED
        and closed_on is not None
        and closed_on >= today - timedelta(days=recently_closed_days)
    )


def summarise(stored: StoredCase) -> CaseSummary:
    case = stored.case
    return CaseSummary(
        portal_id=case.portal_id,
        crm_reference=case.crm_reference,
        title=case.title,
        member_id=case.member_id,
        status=case.status,
        received_at=case.received_at,
        target_date=case.target_date,
        queued=stored.queued,
    )


class CaseRepository(Protocol):
    """The case index, as the portal's pages read it."""

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        """The case with this id, or None. The caller checks access before showing it."""
        ...

    def list_visible(
        self,
        viewer: Viewer,
        now: datetime,
        bucket: Bucket,
        *,
        limit: int,
        offset: int = 0,
        recently_closed_days: int = 30,
        ward_id: str | None = None,
        whose: Whose = Whose.ALL,
        also_count: Collection[Whose] = (),
    ) -> CaseListing:
        """The viewer's cases in a bucket (in one ward, if given; only `whose` cases), newest
        first, with the count of every bucket, and the bucket counts of each `also_count`
        list (`CaseListing.other_counts`)."""
        ...

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        """Cases the viewer may see that match every word of `text` in fields they may see
        (`search.matches_visible`), best first."""
        ...

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        """Cases the viewer may see whose resident matches `text` by name, email or postcode
        (`lookup.resident_matches`; an implementation may return a few more), newest first."""
        ...


class MemoryCaseRepository:
    """Cases held in memory, filtered by the access policy's Python form."""

    def __init__(self, cases: Iterable[StoredCase] = ()) -> None:
        self._cases: dict[uuid.UUID, StoredCase] = {}
        for stored in cases:
            self.put(stored)

    def put(self, stored: StoredCase) -> None:
        self._cases[stored.case.portal_id] = stored

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        return self._cases.get(portal_id)

    def list_visible(
        self,
        viewer: Viewer,
        now: datetime,
        bucket: Bucket,
        *,
        limit: int,
        offset: int = 0,
        recently_closed_days: int = 30,
        ward_id: str | None = None,
        whose: Whose = Whose.ALL,
        also_count: Collection[Whose] = (),
    ) -> CaseListing:
        today = council_day(now)

        def visible_of(chosen: Whose) -> list[StoredCase]:
            reasons = WHOSE_REASONS[chosen]
            rule = (
                visibility(viewer, now)
                if reasons is None
                else AnyOf(visibility_parts(viewer, now, reasons=reasons))
            )
            return [
                stored
                for stored in self._cases.values()
                if holds(rule, stored.facts) and ward_id in (None, stored.case.ward_id)
            ]

        def counts_of(cases: list[StoredCase]) -> dict[Bucket, int]:
            return {
                each: sum(in_bucket(s.case, each, today, recently_closed_days) for s in cases)
                for each in Bucket
            }

        visible = visible_of(whose)
        chosen = sorted(
            (s for s in visible if in_bucket(s.case, bucket, today, recently_closed_days)),
            key=lambda s: (s.case.received_at, str(s.case.portal_id)),
            reverse=True,
        )
        page = [summarise(s) for s in chosen[offset : offset + limit]]
        return CaseListing(
            rows=page,
            counts=counts_of(visible),
            total=len(chosen),
            other_counts={other: counts_of(visible_of(other)) for other in also_count},
        )

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        from portal_extensions.web.lookup import resident_matches

        rule = visibility(viewer, now)
        hits = [
            stored
            for stored in self._cases.values()
            if holds(rule, stored.facts)
            and resident_matches(stored.case.constituent, stored.case, text)
        ]
        hits.sort(key=lambda s: (s.case.received_at, str(s.case.portal_id)), reverse=True)
        return hits[:limit]

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        # search imports this module's StoredCase, so it is imported when first needed
        from portal_extensions.web.search import matches_visible, query_terms

        terms = query_terms(text)
        rule = visibility(viewer, now)
        hits = [
            stored
            for stored in self._cases.values()
            if holds(rule, stored.facts) and matches_visible(viewer, stored, terms, now)
        ]
        hits.sort(key=lambda s: (s.case.received_at, str(s.case.portal_id)), reverse=True)
        return [summarise(s) for s in hits[:limit]]
