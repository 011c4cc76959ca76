"""The case index: idempotent upserts of mapped cases, local writes, access columns, a hash.

Upserts are keyed on the CRM reference (then on the portal id, for a case the portal created
and the CRM has just confirmed) and ordered by the CRM's modified time, so replaying any batch,
in any order, any number of times leaves the same index: the property that makes sync safe to
kill and re-run. Viewers read the index through `case_reads`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from mappings.model import COUNCIL_ZONE, CaseStatus, MemberCase
from portal_extensions.access import CaseColumns, Fact
from portal_extensions.store.schema import (
    case_service_requests,
    cases,
    change_counters,
    constituents,
    members,
    outbox,
    parties,
)

#: Namespace for portal ids of cases that the CRM made (no PortalId stamped on them), so the
#: same CRM case always gets the same portal id, on every server and every re-sync.
CRM_CASE_NAMESPACE = uuid.UUID("6f1c9a52-3a47-4a8e-9d43-2f7b0f6f0c11")


#: How many changed portal ids a summed `UpsertResult` keeps (for events and tests).
MAX_CHANGED_IDS = 1000


@dataclass(frozen=True)
class IndexedCase:
    """A mapped case plus the CRM's modified time that orders its versions."""

    case: MemberCase
    crm_modified_at: datetime | None


@dataclass
class UpsertResult:
    """What one batch did: new rows, changed rows, identical rows, and older copies ignored."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    changed_portal_ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: UpsertResult) -> UpsertResult:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.stale += other.stale
        # Bounded: a 100k-case full sync must not hold every id in memory.
        room = MAX_CHANGED_IDS - len(self.changed_portal_ids)
        if room > 0:
            self.changed_portal_ids.extend(other.changed_portal_ids[:room])
        return self


def stable_portal_id(case: MemberCase, crm: str = "crm") -> MemberCase:
    """Give a CRM-made case (no portal id in the CRM record) a deterministic portal id."""
    if "portal_id" in case.model_fields_set or case.crm_reference is None:
        return case
    derived = uuid.uuid5(CRM_CASE_NAMESPACE, f"{crm}:{case.crm_reference}")
    return case.model_copy(update={"portal_id": derived})


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _address(case: MemberCase) -> str:
    parts = [
        case.location.address,
        case.location.postcode,
        case.constituent.location.address,
        case.constituent.location.postcode,
    ]
    seen: list[str] = []
    for part in parts:
        if part and part not in seen:
            seen.append(part)
    return "\n".join(seen)


def _council_day(moment: datetime | None) -> date | None:
    return moment.astimezone(COUNCIL_ZONE).date() if moment is not None else None


def service_request_rows(case: MemberCase) -> list[dict[str, Any]]:
    """The case's requests to services as `case_service_requests` rows (council days)."""
    return [
        {
            "portal_id": str(case.portal_id),
            "service_id": request.service_id,
            "sent_day": _council_day(request.sent_at),
            "response_due": request.response_due,
            "responded_day": _council_day(request.responded_at),
        }
        for request in case.service_requests
    ]


def _replace_service_requests(conn: sa.Connection, indexed: Sequence[MemberCase]) -> None:
    """Re-write the service-request rows of cases just inserted or changed (same transaction)."""
    if not indexed:
        return
    conn.execute(
        sa.delete(case_service_requests).where(
            case_service_requests.c.portal_id.in_([str(case.portal_id) for case in indexed])
        )
    )
    rows = [row for case in indexed for row in service_request_rows(case)]
    if rows:
        conn.execute(sa.insert(case_service_requests), rows)


def case_columns(case: MemberCase) -> dict[str, Any]:
    """The indexed columns and JSON record for one case (everything but bookkeeping)."""
    record = case.model_dump(mode="json")
    return {
        "portal_id": str(case.portal_id),
        "crm_reference": case.crm_reference,
        "member_id": case.member_id,
        "ward_id": case.ward_id,
        "service_id": case.service_id,
        "category": case.category,
        "status": case.status.value,
        "priority": case.priority.value,
        "sharing_level": case.sharing.level.value,
        "sharing_colleague_id": case.sharing.colleague_id,
        "sharing_until": case.sharing.until,
        "authority_recorded_at": case.authority.recorded_at if case.authority else None,
        "authority_withdrawn_at": case.authority.withdrawn_at if case.authority else None,
        "explicit_consent": bool(case.authority and case.authority.explicit_consent),
        "special_category": case.special_category,
        "received_at": case.received_at,
        "closed_at": case.closed_at,
        "acknowledgement_due": case.acknowledgement_due,
        "next_update_due": case.next_update_due,
        "target_date": case.target_date,
        "channel": case.channel.value,
        "raised_by": case.raised_by.value,
        "received_day": _council_day(case.received_at),
        "closed_day": _council_day(case.closed_at),
        "title": case.title,
        "description": case.description,
        "notes_text": "\n".join(note.text for note in case.notes),
        "constituent_name": case.constituent.display_name,
        "address_text": _address(case),
        "record": record,
        "record_hash": hashlib.sha256(canonical_json(record).encode()).hexdigest(),
    }


def _upsert_constituents(
    conn: sa.Connection, batch: Sequence[MemberCase], now: datetime
) -> dict[str, int]:
    """Insert or refresh the constituents of a batch; returns CRM party id -> row id."""
    latest: dict[str, MemberCase] = {}
    for case in batch:
        if case.constituent.crm_party_id:
            latest[case.constituent.crm_party_id] = case
    if not latest:
        return {}
    existing = {
        row.crm_party_id: (row.id, row.record)
        for row in conn.execute(
            sa.select(constituents.c.id, constituents.c.crm_party_id, constituents.c.record).where(
                constituents.c.crm_party_id.in_(list(latest))
            )
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for party_id, case in latest.items():
        person = case.constituent
        values = {
            "crm_party_id": party_id,
            "display_name": person.display_name,
            "email": str(person.email) if person.email else None,
            "phone": person.phone,
            "postcode": person.location.postcode,
            "record": person.model_dump(mode="json"),
            "updated_at": now,
        }
        if party_id not in existing:
            inserts.append(values)
        elif existing[party_id][1] != values["record"]:
            updates.append({**values, "b_id": existing[party_id][0]})
    if inserts:
        conn.execute(sa.insert(constituents), inserts)
    if updates:
        conn.execute(
            sa.update(constituents).where(constituents.c.id == sa.bindparam("b_id")), updates
        )
    return {
        row.crm_party_id: row.id
        for row in conn.execute(
            sa.select(constituents.c.id, constituents.c.crm_party_id).where(
                constituents.c.crm_party_id.in_(list(latest))
            )
        )
    }


def upsert_cases(
    conn: sa.Connection,
    items: Iterable[IndexedCase],
    *,
    now: datetime,
    full_run: str | None = None,
) -> UpsertResult:
    """Insert or update a batch of cases in the caller's transaction.

    A row is only replaced by a copy at least as new (by CRM modified time) and only rewritten
    when its content changed, so its `version` counts real changes. `full_run` marks every row
    seen by a full sync, so the rows not seen can be reconciled as removed at the end.
    """
    newest: dict[str, IndexedCase] = {}
    for item in items:
        key = item.case.crm_reference or f"portal:{item.case.portal_id}"
        held = newest.get(key)
        if held is None or _newer_or_same(item.crm_modified_at, held.crm_modified_at):
            newest[key] = item
    batch = list(newest.values())
    result = UpsertResult()
    if not batch:
        return result
    refs = [i.case.crm_reference for i in batch if i.case.crm_reference]
    pids = [str(i.case.portal_id) for i in batch]
    cols = (
        cases.c.id,
        cases.c.portal_id,
        cases.c.crm_reference,
        cases.c.crm_modified_at,
        cases.c.record_hash,
        cases.c.version,
        cases.c.removed_at,
    )
    by_ref: dict[str, Any] = {}
    by_pid: dict[str, Any] = {}
    for row in conn.execute(
        sa.select(*cols).where(sa.or_(cases.c.crm_reference.in_(refs), cases.c.portal_id.in_(pids)))
    ):
        if row.crm_reference:
            by_ref[row.crm_reference] = row
        by_pid[row.portal_id] = row
    # A case changed in the portal (sharing, authority, a service request) and not yet confirmed
    # by the CRM keeps the portal's version: the CRM's copy predates the change, and replacing
    # it would, for one, undo a withdrawal of authority until the dispatcher catches up.
    pending_changes = set(
        conn.execute(
            sa.select(outbox.c.portal_id).where(
                outbox.c.portal_id.in_([row.portal_id for row in by_pid.values()]),
                outbox.c.kind == "update_case",
                outbox.c.state != "confirmed",
            )
        ).scalars()
    )
    party_ids = _upsert_constituents(conn, [i.case for i in batch], now)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    written: list[MemberCase] = []
    seen_ids: list[int] = []
    for item in batch:
        case = item.case
        found = by_ref.get(case.crm_reference or "") or by_pid.get(str(case.portal_id))
        if found is not None and str(case.portal_id) != found.portal_id:
            # Keep the portal id the index already uses for this CRM case (links, reminders).
            case = case.model_copy(update={"portal_id": uuid.UUID(found.portal_id)})
        values = case_columns(case)
        values["constituent_id"] = party_ids.get(case.constituent.crm_party_id or "")
        values["crm_modified_at"] = item.crm_modified_at
        values["synced_at"] = now
        values["updated_at"] = now
        values["removed_at"] = None
        values["removed_reason"] = None
        values["full_sync_run"] = full_run
        if found is None:
            inserts.append({**values, "version": 1})
            written.append(case)
            result.inserted += 1
            result.changed_portal_ids.append(values["portal_id"])
            continue
        if found.portal_id in pending_changes or not _newer_or_same(
            item.crm_modified_at, found.crm_modified_at
        ):
            result.stale += 1
            seen_ids.append(found.id)
            continue
        if found.record_hash == values["record_hash"] and found.removed_at is None:
            result.unchanged += 1
            seen_ids.append(found.id)
            continue
        updates.append({**values, "version": found.version + 1, "b_id": found.id})
        written.append(case)
        result.updated += 1
        result.changed_portal_ids.append(values["portal_id"])
    if inserts:
        conn.execute(sa.insert(cases), inserts)
    if updates:
        conn.execute(sa.update(cases).where(cases.c.id == sa.bindparam("b_id")), updates)
    if inserts or updates:
        _replace_service_requests(conn, written)
        cases_changed(conn)
    if full_run is not None and seen_ids:
        conn.execute(
            sa.update(cases).where(cases.c.id.in_(seen_ids)).values(full_sync_run=full_run)
        )
    return result


def _newer_or_same(candidate: datetime | None, current: datetime | None) -> bool:
    if candidate is None or current is None:
        return True
    return candidate >= current


def insert_local_case(conn: sa.Connection, case: MemberCase, *, now: datetime) -> None:
    """Index a case the portal has just written (queued for the CRM, no reference yet)."""
    values = case_columns(case)
    conn.execute(
        sa.insert(cases).values(
            **values,
            crm_modified_at=None,
            version=1,
            synced_at=None,
            updated_at=now,
        )
    )
    _replace_service_requests(conn, [case])
    cases_changed(conn)


def update_local_case(conn: sa.Connection, case: MemberCase, *, now: datetime) -> bool:
    """Re-index a case the portal has just changed (sharing, authority, service request).

    Called in the transaction that queues the change for the CRM, so the index, and with it
    every list, search and page, reflects the change before the CRM confirms it. Returns False
    when the case is not in the index (or was removed), so nothing was changed.
    """
    values = case_columns(case)
    result = conn.execute(
        sa.update(cases)
        .where(cases.c.portal_id == values.pop("portal_id"), cases.c.removed_at.is_(None))
        .values(**values, version=cases.c.version + 1, updated_at=now)
    )
    if result.rowcount == 1:
        _replace_service_requests(conn, [case])
        cases_changed(conn)
    return result.rowcount == 1


def set_crm_reference(conn: sa.Connection, portal_id: str, reference: str, now: datetime) -> None:
    """Record the CRM's reference for a case the outbox has just created there."""
    row = conn.execute(
        sa.select(cases.c.record, cases.c.crm_reference, cases.c.version).where(
            cases.c.portal_id == portal_id
        )
    ).one_or_none()
    if row is None or row.crm_reference == reference:
        return
    record = dict(row.record)
    record["crm_reference"] = reference
    conn.execute(
        sa.update(cases)
        .where(cases.c.portal_id == portal_id)
        .values(
            crm_reference=reference,
            record=record,
            record_hash=hashlib.sha256(canonical_json(record).encode()).hexdigest(),
            version=row.version + 1,
            updated_at=now,
        )
    )
    cases_changed(conn)


def mark_removed(
    conn: sa.Connection, where: sa.ColumnElement[bool], *, reason: str, now: datetime
) -> list[str]:
    """Mark matching live rows as removed from the CRM (kept for audit); returns portal ids."""
    condition = sa.and_(where, cases.c.removed_at.is_(None))
    portal_ids = list(conn.execute(sa.select(cases.c.portal_id).where(condition)).scalars())
    if portal_ids:
        conn.execute(
            sa.update(cases)
            .where(condition)
            .values(
                removed_at=now,
                removed_reason=reason,
                version=cases.c.version + 1,
                updated_at=now,
            )
        )
        cases_changed(conn)
    return portal_ids


def mark_seen_in_full_run(conn: sa.Connection, references: Sequence[str], run_id: str) -> None:
    """Count these CRM cases as seen by full run `run_id` (still in the CRM, only not mapped),
    so that the run's end (`remove_unseen`) does not take them for deleted."""
    if references:
        conn.execute(
            sa.update(cases)
            .where(cases.c.crm_reference.in_(references))
            .values(full_sync_run=run_id)
        )


def remove_unseen(conn: sa.Connection, run_id: str, *, reason: str, now: datetime) -> list[str]:
    """At the end of full run `run_id`, mark removed every CRM case the run did not see
    (deleted or merged in the CRM); returns their portal ids. Local cases are kept."""
    unseen = sa.and_(
        cases.c.crm_reference.is_not(None),
        sa.or_(cases.c.full_sync_run.is_(None), cases.c.full_sync_run != run_id),
    )
    return mark_removed(conn, unseen, reason=reason, now=now)


def remove_reference(
    conn: sa.Connection, crm_reference: str, *, reason: str, now: datetime
) -> list[str]:
    """Mark the case with this CRM reference removed (the CRM no longer has it)."""
    return mark_removed(conn, cases.c.crm_reference == crm_reference, reason=reason, now=now)


_BUMP_CASES = (
    sa.update(change_counters)
    .where(change_counters.c.name == "cases")
    .values(value=change_counters.c.value + 1)
)
_CASES_COUNTER = sa.select(change_counters.c.value).where(change_counters.c.name == "cases")


def cases_changed(conn: sa.Connection) -> None:
    """Count a change to the case index, in the caller's transaction (every writer of `cases`
    in this module calls it; caches of counts compare `cases_counter`)."""
    conn.execute(_BUMP_CASES)


def cases_counter(conn: sa.Connection) -> int:
    """How many transactions have changed the case index: equal values, equal index."""
    return int(conn.execute(_CASES_COUNTER).scalar_one())


def access_columns() -> CaseColumns:
    """The index column behind each fact of the access policy, for `visible_cases_clause`.

    The owning member's party is a correlated look-up in the directory, so a member changing
    party changes what colleagues see at once, without re-indexing cases.
    """
    member_party = (
        sa.select(parties.c.name)
        .select_from(members.join(parties, members.c.party_id == parties.c.id))
        .where(members.c.id == cases.c.member_id)
        .scalar_subquery()
    )
    return {
        Fact.MEMBER_ID: cases.c.member_id,
        Fact.WARD_ID: cases.c.ward_id,
        Fact.MEMBER_PARTY: member_party,
        Fact.SERVICE_ID: cases.c.service_id,
        Fact.SHARING_LEVEL: cases.c.sharing_level,
        Fact.SHARING_COLLEAGUE_ID: cases.c.sharing_colleague_id,
        Fact.SHARING_UNTIL: cases.c.sharing_until,
        Fact.AUTHORITY_RECORDED_AT: cases.c.authority_recorded_at,
        Fact.AUTHORITY_WITHDRAWN_AT: cases.c.authority_withdrawn_at,
    }


def open_crm_references(conn: sa.Connection) -> set[str]:
    """CRM references of the live indexed cases that are not closed (sync re-checks those the
    CRM no longer lists as open)."""
    query = sa.select(cases.c.crm_reference).where(
        cases.c.crm_reference.is_not(None),
        cases.c.removed_at.is_(None),
        cases.c.status != CaseStatus.CLOSED.value,
    )
    return {str(ref) for ref in conn.execute(query).scalars()}


def count_cases(conn: sa.Connection, *, include_removed: bool = False) -> int:
    query = sa.select(sa.func.count()).select_from(cases)
    if not include_removed:
        query = query.where(cases.c.removed_at.is_(None))
    return int(conn.execute(query).scalar_one())


def index_hash(conn: sa.Connection) -> str:
    """A hash of the canonical case table: content, CRM identity, CRM time and removal.

    Local bookkeeping (row ids, sync times, version counters, full-run marks) is left out, so
    two servers that synced the same CRM state, however often interrupted, hash the same.
    """
    digest = hashlib.sha256()
    rows = conn.execute(
        sa.select(
            cases.c.portal_id,
            cases.c.crm_reference,
            cases.c.record_hash,
            cases.c.crm_modified_at,
            cases.c.removed_at.is_not(None),
        ).order_by(cases.c.portal_id)
    )
    for portal_id, ref, record_hash, modified, removed in rows:
        stamp = modified.isoformat() if modified else ""
        digest.update(f"{portal_id}|{ref or ''}|{record_hash}|{stamp}|{int(removed)}\n".encode())
    return digest.hexdigest()


__all__ = [
    "CRM_CASE_NAMESPACE",
    "IndexedCase",
    "UpsertResult",
    "access_columns",
    "case_columns",
    "cases_changed",
    "cases_counter",
    "count_cases",
    "index_hash",
    "insert_local_case",
    "mark_removed",
    "mark_seen_in_full_run",
    "open_crm_references",
    "remove_reference",
    "remove_unseen",
    "service_request_rows",
    "set_crm_reference",
    "stable_portal_id",
    "update_local_case",
    "upsert_cases",
]
