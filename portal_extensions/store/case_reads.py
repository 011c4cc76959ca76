"""The case index as a viewer reads it: lists with bucket counts, one case, look-up, search.

Lists are filtered in SQL by the access policy's own clauses (`visible_cases_parts`, whose
union is `visible_cases_clause`, over `cases.access_columns()`), and the buckets are the same
definitions as `case_types.in_bucket`, written over the indexed columns, so the store and the
in-memory reference agree (tested in `tests/store/test_case_reads.py`, on SQLite and PostgreSQL).
"""

from __future__ import annotations

import functools
import threading
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase
from portal_extensions.access import (
    CaseFacts,
    Fact,
    Role,
    Viewer,
    council_day,
    visible_cases_clause,
    visible_cases_parts,
)
from portal_extensions.store.case_types import (
    WHOSE_REASONS,
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
    summarise,
)
from portal_extensions.store.cases import access_columns, cases_counter
from portal_extensions.store.database import Store
from portal_extensions.store.outbox import OutboxState
from portal_extensions.store.schema import cases, members, outbox, parties
from portal_extensions.store.search import (
    matches_visible,
    query_terms,
    reference_forms,
    search_cases,
)

_CLOSED_OR_DRAFT = (CaseStatus.CLOSED.value, CaseStatus.DRAFT.value)


def _queued(portal_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The case has a write the CRM has not confirmed yet."""
    return sa.exists().where(
        outbox.c.portal_id == portal_id, outbox.c.state != OutboxState.CONFIRMED.value
    )


def bucket_clause(bucket: Bucket, today: date, recently_closed_days: int) -> sa.ColumnElement[bool]:
    """`case_types.in_bucket`, over the index columns, on the council's day `today`."""
    c = cases.c
    is_open = c.status.not_in(_CLOSED_OR_DRAFT)
    if bucket is Bucket.OPEN:
        return is_open
    if bucket is Bucket.OVERDUE:
        return sa.and_(is_open, c.target_date < today)
    if bucket is Bucket.AWAITING_SERVICE:
        return c.status == CaseStatus.WITH_SERVICE.value
    first_day = today - timedelta(days=recently_closed_days)
    since = datetime.combine(first_day, time(0), tzinfo=COUNCIL_ZONE)
    return sa.and_(c.status == CaseStatus.CLOSED.value, c.closed_at >= since)


_PARTY_MEMBERS = (
    sa.select(members.c.id)
    .select_from(members.join(parties, members.c.party_id == parties.c.id))
    .where(parties.c.name == sa.bindparam("party"))
)


def party_members(conn: sa.Connection, viewer: Viewer) -> frozenset[str] | None:
    """The members whose party in the directory is the viewer's party group (see
    `access.grants`); None when the viewer has no party grant."""
    if viewer.role is not Role.MEMBER or viewer.party_group is None:
        return None
    return frozenset(conn.execute(_PARTY_MEMBERS, {"party": viewer.party_group}).scalars())


_HELD_COUNTS = 4096


@dataclass(frozen=True, slots=True)
class _ListQueries:
    counting: sa.CompoundSelect[Any]
    rows: sa.Select[Any]


def _scope(ward_id: str | None) -> list[sa.ColumnElement[bool]]:
    scope: list[sa.ColumnElement[bool]] = [cases.c.removed_at.is_(None)]
    if ward_id is not None:
        scope.append(cases.c.ward_id == ward_id)
    return scope


def _parts(
    viewer: Viewer, party: frozenset[str] | None, today: date, whose: Whose
) -> list[sa.ColumnElement[bool]]:
    noon = datetime.combine(today, time(12), tzinfo=COUNCIL_ZONE)
    return visible_cases_parts(viewer, noon, access_columns(), party, WHOSE_REASONS[whose])


@functools.lru_cache(maxsize=1024)
def _counting(
    viewer: Viewer,
    party: frozenset[str] | None,
    today: date,
    recently_closed_days: int,
    ward_id: str | None,
    whose: Whose,
) -> sa.CompoundSelect[Any] | None:
    """A list's bucket counts as one statement, built once per viewer, day, scope and `whose`
    (not per bucket or page, so every tab and page of a list, and the count of it shown from
    another list, share one statement and so one entry of the held counts). One row of counts
    per access part, added up by the caller (the parts are disjoint). None when the viewer
    sees no case of this kind."""
    parts = _parts(viewer, party, today, whose)
    if not parts:
        return None
    scope = _scope(ward_id)
    return sa.union_all(
        *(
            sa.select(
                *(
                    sa.func.coalesce(
                        sa.func.sum(
                            sa.case((bucket_clause(each, today, recently_closed_days), 1), else_=0)
                        ),
                        0,
                    ).label(each.value)
                    for each in Bucket
                )
            ).where(part, *scope)
            for part in parts
        )
    )


@functools.lru_cache(maxsize=1024)
def _list_queries(
    viewer: Viewer,
    party: frozenset[str] | None,
    today: date,
    bucket: Bucket,
    limit: int,
    offset: int,
    recently_closed_days: int,
    ward_id: str | None,
    whose: Whose = Whose.ALL,
) -> _ListQueries | None:
    """A list's two statements, built once per viewer, day and page and then reused: building
    SQLAlchemy expressions costs more than running them on a covering index.

    The rule runs as a UNION ALL of its parts (`access.visible_cases_parts`, pairwise disjoint,
    only those `whose` asks for), each answered from a covering index (migration 0002) without
    reading the large case rows; only the page's rows are read in full. The access rule and the
    buckets depend on the council's day, not the time of day (`tests/store/test_case_reads.py`
    holds that), so the day is part of the key. None when the viewer sees no case of this kind.
    """
    counting = _counting(viewer, party, today, recently_closed_days, ward_id, whose)
    if counting is None:
        return None
    parts = _parts(viewer, party, today, whose)
    scope = _scope(ward_id)
    newest = [
        sa.select(cases.c.portal_id, cases.c.received_at)
        .where(part, *scope, bucket_clause(bucket, today, recently_closed_days))
        .order_by(cases.c.received_at.desc(), cases.c.portal_id.desc())
        .limit(offset + limit)
        .subquery()
        for part in parts
    ]
    page = sa.union_all(
        *(sa.select(each.c.portal_id, each.c.received_at) for each in newest)
    ).subquery("page")
    rows = (
        sa.select(
            cases.c.portal_id,
            cases.c.crm_reference,
            cases.c.title,
            cases.c.member_id,
            cases.c.status,
            cases.c.received_at,
            cases.c.target_date,
            cases.c.constituent_name,
            _queued(cases.c.portal_id).label("queued"),
        )
        .select_from(page.join(cases, cases.c.portal_id == page.c.portal_id))
        .order_by(page.c.received_at.desc(), page.c.portal_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return _ListQueries(counting, rows)


_NO_COUNTS = dict.fromkeys(Bucket, 0)


class StoreCaseRepository:
    """`CaseRepository` over the store's case index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.columns = access_columns()
        # Keyed by the cached counting statement itself (one per viewer, day, scope, whose).
        self._held_counts: dict[sa.CompoundSelect[Any], tuple[int, dict[Bucket, int]]] = {}
        self._lock = threading.Lock()

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        query = sa.select(
            cases.c.record,
            self.columns[Fact.MEMBER_PARTY].label("member_party"),
            _queued(cases.c.portal_id).label("queued"),
        ).where(cases.c.portal_id == str(portal_id), cases.c.removed_at.is_(None))
        with self.store.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        case = MemberCase.model_validate(row.record)
        return StoredCase(case, CaseFacts.from_case(case, row.member_party), bool(row.queued))

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
        with self.store.read() as conn:
            # Only the party grant reads the party's members, and only `Whose.ALL` has it.
            wanted = {whose, *also_count}
            party = party_members(conn, viewer) if Whose.ALL in wanted else None
            # Read once, before any count, so every count of this request is kept under it.
            counter = cases_counter(conn)

            def party_for(chosen: Whose) -> frozenset[str] | None:
                return party if chosen is Whose.ALL else None

            other_counts = {
                other: self._counts(
                    conn,
                    _counting(
                        viewer,
                        party_for(other),
                        today,
                        recently_closed_days,
                        ward_id,
                        other,
                    ),
                    counter,
                )
                for other in also_count
            }
            queries = _list_queries(
                viewer,
                party_for(whose),
                today,
                bucket,
                limit,
                offset,
                recently_closed_days,
                ward_id,
                whose,
            )
            if queries is None:
                return CaseListing(
                    rows=[], counts=dict(_NO_COUNTS), total=0, other_counts=other_counts
                )
            counts = self._counts(conn, queries.counting, counter)
            rows = conn.execute(queries.rows).all()
        return CaseListing(
            rows=[
                CaseSummary(
                    portal_id=uuid.UUID(row.portal_id),
                    crm_reference=row.crm_reference,
                    title=row.title,
                    member_id=row.member_id,
                    status=CaseStatus(row.status),
                    received_at=row.received_at,
                    target_date=row.target_date,
                    queued=bool(row.queued),
                    resident=row.constituent_name or None,
                )
                for row in rows
            ],
            counts=counts,
            total=counts[bucket],
            other_counts=other_counts,
        )

    def _counts(
        self, conn: sa.Connection, counting: sa.CompoundSelect[Any] | None, counter: int
    ) -> dict[Bucket, int]:
        """A list's bucket counts, reused while the case index is unchanged: `counter` was read
        before any count, in the same transaction, so counts are never older than the counter
        they are kept under."""
        if counting is None:
            return dict(_NO_COUNTS)
        held = self._held_counts.get(counting)
        if held is not None and held[0] == counter:
            return held[1]
        counted = conn.execute(counting).all()
        counts = {each: sum(int(part._mapping[each.value]) for part in counted) for each in Bucket}
        with self._lock:
            if len(self._held_counts) >= _HELD_COUNTS:
                self._held_counts.clear()
            self._held_counts[counting] = (counter, counts)
        return counts

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        """Narrowed in SQL (name part, whole email, postcode in the address), then the caller
        applies `lookup.resident_matches` to what the viewer may see."""
        wanted = " ".join(text.casefold().split())
        if len(wanted) < 2:
            return []
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        squashed = escaped.replace(" ", "")
        email = sa.func.lower(cases.c.record[("constituent", "email")].as_string())
        query = (
            sa.select(cases.c.portal_id)
            .where(
                visible_cases_clause(viewer, now, self.columns),
                cases.c.removed_at.is_(None),
                sa.or_(
                    sa.func.lower(cases.c.constituent_name).like(f"%{escaped}%", escape="\\"),
                    email == wanted,
                    sa.func.replace(sa.func.lower(cases.c.address_text), " ", "").like(
                        f"%{squashed}%", escape="\\"
                    ),
                ),
            )
            .order_by(cases.c.received_at.desc(), cases.c.portal_id.desc())
            .limit(limit)
        )
        with self.store.read() as conn:
            ids = list(conn.execute(query).scalars())
        found = [self.get(uuid.UUID(portal_id)) for portal_id in ids]
        return [stored for stored in found if stored is not None]

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        terms = query_terms(text)
        if not terms:
            return []
        where = visible_cases_clause(viewer, now, self.columns)
        found: list[CaseSummary] = []
        references = reference_forms(text)
        if references:  # the case with that CRM reference first (the unique index finds it)
            with self.store.read() as conn:
                ids = list(
                    conn.execute(
                        sa.select(cases.c.portal_id).where(
                            where,
                            cases.c.removed_at.is_(None),
                            cases.c.crm_reference.in_(sorted(references)),
                        )
                    ).scalars()
                )
            by_reference = [self.get(uuid.UUID(portal_id)) for portal_id in ids]
            found += [summarise(stored) for stored in by_reference if stored is not None]
        offset = 0
        # Over-fetch: some index hits match only through fields this viewer may not see.
        while len(found) < limit and offset < limit * 10:
            with self.store.read() as conn:
                hits = search_cases(conn, text, where=where, limit=limit * 2, offset=offset)
            if not hits:
                break
            offset += len(hits)
            for hit in hits:
                if any(str(row.portal_id) == hit.portal_id for row in found):
                    continue
                stored = self.get(uuid.UUID(hit.portal_id))
                if stored is not None and matches_visible(viewer, stored, terms, now):
                    found.append(summarise(stored))
                    if len(found) == limit:
                        break
        return found


__all__ = ["StoreCaseRepository", "bucket_clause", "party_members"]
