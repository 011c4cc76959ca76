"""The sign-in throttle's counters in the store: exact under processes failing at once, lapsed
counters restart and are removed, and a cleared counter is gone (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from portal_extensions.store.database import Store
from portal_extensions.store.schema import sign_in_failures
from portal_extensions.store.sign_in_failures import Failures, StoreSignInFailures

T0 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_failures_at_once_from_several_processes_are_all_counted(
    open_store: Callable[[], Store],
) -> None:
    counters = [StoreSignInFailures(open_store()) for _ in range(4)]
    start = threading.Barrier(len(counters))

    def fail(counter: StoreSignInFailures) -> None:
        start.wait()
        for _ in range(10):
            counter.add(["account", "pair"], T0, T0 - HOUR)

    threads = [threading.Thread(target=fail, args=(counter,)) for counter in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = counters[0].recent(["account", "pair", "other"], T0 - HOUR)
    assert found == {"account": Failures(40, T0), "pair": Failures(40, T0)}


def test_a_lapsed_count_restarts_and_lapsed_rows_are_removed(store: Store) -> None:
    counters = StoreSignInFailures(store)
    counters.add(["old", "kept", "gone"], T0, T0 - HOUR)
    counters.add(["kept"], T0 + HOUR / 2, T0 - HOUR / 2)
    later = T0 + HOUR + timedelta(minutes=10)
    since = later - HOUR
    assert counters.recent(["old", "kept"], since) == {"kept": Failures(2, T0 + HOUR / 2)}
    counters.add(["old"], later, since)
    assert counters.recent(["old", "kept"], since) == {
        "old": Failures(1, later),
        "kept": Failures(2, T0 + HOUR / 2),
    }
    with store.read() as conn:
        keys = conn.execute(sa.select(sign_in_failures.c.key_hash)).scalars().all()
    assert sorted(keys) == ["kept", "old"], "counters with no failure since are removed"
    counters.clear("old")
    assert counters.recent(["old"], since) == {}
