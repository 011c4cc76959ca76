"""The store itself: migrations, the case index, search, the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal_extensions.access import Role, Viewer, visible_cases_clause
from portal_extensions.store import (
    IndexedCase,
    Store,
    access_columns,
    count_cases,
    current_revision,
    events_for,
    head_revision,
    index_hash,
    record_event,
    search_cases,
    upsert_cases,
)
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_types import Bucket
from portal_extensions.store.schema import audit_events, cases
from tests.store.fakes import FakeMapping, raw_case
from tests.store.index_lookup import get_case

NOW = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)


def _indexed(n: int, minutes: int = 0, **extra) -> IndexedCase:
    raw = raw_case(n, NOW + timedelta(minutes=minutes), **extra)
    case = FakeMapping().to_caseload(raw)
    return IndexedCase(case, NOW + timedelta(minutes=minutes))


def test_migrations_reach_head_and_are_idempotent(store: Store, database) -> None:
    assert current_revision(store.engine) == head_revision()
    again = database.open()  # a second start must not fail or change anything
    assert current_revision(again.engine) == head_revision()
    again.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000
    store.close()


def test_upsert_is_idempotent_and_versions_count_real_changes(store: Store) -> None:
    batch = [_indexed(n) for n in range(10)]
    with store.write() as conn:
        first = upsert_cases(conn, batch, now=NOW)
    with store.write() as conn:
        second = upsert_cases(conn, batch, now=NOW)
    assert (first.inserted, second.inserted, second.updated, second.unchanged) == (10, 0, 0, 10)
    changed = _indexed(3, minutes=5, title="Pothole now a crater")
    with store.write() as conn:
        third = upsert_cases(conn, [changed], now=NOW)
        case = get_case(conn, crm_reference=changed.case.crm_reference)
        version = conn.execute(
            sa.select(cases.c.version).where(cases.c.crm_reference == changed.case.crm_reference)
        ).scalar_one()
    assert third.updated == 1 and case is not None and case.title == "Pothole now a crater"
    assert version == 2


def test_an_older_copy_never_replaces_a_newer_one(store: Store) -> None:
    with store.write() as conn:
        upsert_cases(conn, [_indexed(1, minutes=10, title="Newer title")], now=NOW)
        result = upsert_cases(conn, [_indexed(1, minutes=1, title="Older title")], now=NOW)
        case = get_case(conn, crm_reference=raw_case(1, NOW)["ref"])
    assert result.stale == 1 and case is not None and case.title == "Newer title"


def test_index_hash_ignores_bookkeeping_but_sees_content(store: Store) -> None:
    with store.write() as conn:
        upsert_cases(conn, [_indexed(n) for n in range(5)], now=NOW)
        before = index_hash(conn)
        upsert_cases(conn, [_indexed(n) for n in range(5)], now=NOW + timedelta(hours=1))
        same = index_hash(conn)
        upsert_cases(conn, [_indexed(2, minutes=3, title="Changed")], now=NOW)
        after = index_hash(conn)
    assert before == same != after


def test_search_matches_every_word_as_a_prefix_and_ranks_title_first(store: Store) -> None:
    with store.write() as conn:
        upsert_cases(
            conn,
            [
                _indexed(1, title="Pothole outside the school", description="deep hole"),
                _indexed(2, title="Streetlight out", description="near a pothole on Mill Lane"),
                _indexed(3, title="Bins not collected", description="missed again"),
            ],
            now=NOW,
        )
        hits = search_cases(conn, "pot")
        both = search_cases(conn, "POTHOLE mill")
        by_name = search_cases(conn, "surname3")
        by_postcode = search_cases(conn, "FM4")
        nothing = search_cases(conn, "pothole bins")
        hostile = search_cases(conn, "\"'); DROP TABLE cases; --*")
    assert [h.title for h in hits] == ["Pothole outside the school", "Streetlight out"]
    assert [h.title for h in both] == ["Streetlight out"]
    assert [h.title for h in by_name] == ["Bins not collected"]
    assert {h.crm_reference for h in by_postcode} == {raw_case(3, NOW)["ref"]}
    assert nothing == [] and hostile == []


def test_search_follows_updates_and_notes(store: Store) -> None:
    with store.write() as conn:
        upsert_cases(conn, [_indexed(1, title="Graffiti on the bridge")], now=NOW)
        upsert_cases(
            conn,
            [_indexed(1, minutes=1, title="Graffiti removed", notes=["Contractor booked Tuesday"])],
            now=NOW,
        )
        assert search_cases(conn, "bridge") == []
        assert [h.title for h in search_cases(conn, "contractor tues")] == ["Graffiti removed"]


def test_search_and_lists_apply_the_access_filter(store: Store) -> None:
    with store.write() as conn:
        upsert_cases(conn, [_indexed(n, title=f"Pothole {n}") for n in range(10)], now=NOW)
        viewer = Viewer(
            user_id="u1", role=Role.MEMBER, member_id="cllr-0002", party="Green", ward_id="ward-02"
        )
        clause = visible_cases_clause(viewer, NOW, access_columns())
        mine = {h.member_id for h in search_cases(conn, "pothole", where=clause)}
        assert mine == {"cllr-0002"}
        assert count_cases(conn) == 10
    listed = StoreCaseRepository(store).list_visible(viewer, NOW, Bucket.OPEN, limit=50)
    assert {c.member_id for c in listed.rows} == {"cllr-0002"} and len(listed.rows) == 2
    assert listed.total == 2


def test_audit_events_cannot_be_changed_or_deleted(store: Store) -> None:
    with store.write() as conn:
        event_id = record_event(
            conn, actor="u1", action="case.viewed", subject_type="case", subject_id="p1"
        )
    for statement in (
        sa.update(audit_events).where(audit_events.c.id == event_id).values(actor="someone"),
        sa.delete(audit_events).where(audit_events.c.id == event_id),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.write() as conn:
            conn.execute(statement)
    with store.read() as conn:
        events = events_for(conn, "p1")
    assert [(e.actor, e.action) for e in events] == [("u1", "case.viewed")]
