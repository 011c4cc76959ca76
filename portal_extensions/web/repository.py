"""What the pages need from the case index: the interface the store implements.

Lists are always asked for *as a viewer*: an implementation must filter with
`access.visible_cases_clause` (SQL) or `access.visibility` (in memory), or with the parts of it
granted for the reasons a `Whose` choice names (`access.visibility_parts`), so a list never
shows a case whose page would refuse it. Single cases are fetched by id and then checked by
the page with `access.can_view_case`. `MemoryCaseRepository` is the reference implementation;
the store's (`store.case_reads.StoreCaseRepository`) is tested against it
(`tests/store/test_case_reads.py`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Protocol

from portal_extensions.access import (
    AnyOf,
    Viewer,
    council_day,
    holds,
    visibility,
    visibility_parts,
)
from portal_extensions.store.case_types import (
    WHOSE_REASONS,
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
    in_bucket,
    summarise,
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
        from portal_extensions.store.search import matches_visible, query_terms

        terms = query_terms(text)
        rule = visibility(viewer, now)
        hits = [
            stored
            for stored in self._cases.values()
            if holds(rule, stored.facts) and matches_visible(viewer, stored, terms, now)
        ]
        hits.sort(key=lambda s: (s.case.received_at, str(s.case.portal_id)), reverse=True)
        return [summarise(s) for s in hits[:limit]]
