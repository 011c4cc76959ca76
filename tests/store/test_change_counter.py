"""Every writer of the case index counts its change, so caches of counts know they are stale."""

from __future__ import annotations

from datetime import timedelta

from portal_extensions.store import IndexedCase, Store, cases_counter, upsert_cases
from portal_extensions.store.cases import (
    insert_local_case,
    mark_removed,
    set_crm_reference,
    update_local_case,
)
from portal_extensions.store.schema import cases
from tests.portal.access_fixtures import NOW
from tests.portal.web_fixtures import make_case


def _counter(store: Store) -> int:
    with store.read() as conn:
        return cases_counter(conn)


def test_each_change_to_a_case_row_moves_the_counter(store: Store) -> None:
    synced = make_case("alice", "Synced from the CRM")
    local = make_case("alice", "Written in the portal", crm_reference=None)
    start = _counter(store)
    with store.write() as conn:
        upsert_cases(conn, [IndexedCase(synced, NOW)], now=NOW)
    assert _counter(store) == start + 1
    with store.write() as conn:  # the same copy again changes nothing, so counts nothing
        upsert_cases(conn, [IndexedCase(synced, NOW)], now=NOW)
    assert _counter(store) == start + 1
    with store.write() as conn:
        insert_local_case(conn, local, now=NOW)
    assert _counter(store) == start + 2
    with store.write() as conn:
        changed = local.model_copy(update={"title": "Written in the portal, then edited"})
        assert update_local_case(conn, changed, now=NOW)
    assert _counter(store) == start + 3
    with store.write() as conn:
        set_crm_reference(conn, str(local.portal_id), "101099990001", NOW)
    assert _counter(store) == start + 4
    with store.write() as conn:
        mark_removed(conn, cases.c.portal_id == str(synced.portal_id), reason="t", now=NOW)
        mark_removed(conn, cases.c.portal_id == "no-such-case", reason="t", now=NOW)
    assert _counter(store) == start + 5
    with store.write() as conn:
        newer = synced.model_copy(update={"title": "Changed in the CRM"})
        upsert_cases(conn, [IndexedCase(newer, NOW + timedelta(hours=1))], now=NOW)
    assert _counter(store) == start + 6
