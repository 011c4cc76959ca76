"""Pushed-case refreshes in a portal process that runs no worker: its own small drainer."""

from __future__ import annotations

import time
from typing import Any

import pytest

from portal_extensions.jobs.refresh import RefreshQueue
from portal_extensions.store.database import Store
from portal_extensions.store.locks import StoreLock
from tests.jobs.conftest import JobsRuntime, title_of

pytestmark = pytest.mark.sandbox_crm(cases=15, seed=9)


def _wait_for(check: Any, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_process_without_a_worker_refreshes_a_pushed_case_on_its_own_thread(
    runtime: JobsRuntime, sandbox_crm: Any
) -> None:
    syncer = runtime.syncer()
    syncer.run()
    queue = RefreshQueue(runtime.store, syncer, background=True)
    reference = sorted(sandbox_crm.store.cases)[2]
    sandbox_crm.store.update_case(reference, {"title": "Refreshed by the portal"})
    try:
        assert queue.request(reference)  # the first event starts the drainer
        assert _wait_for(lambda: title_of(runtime.store, reference) == "Refreshed by the portal")
        assert queue.pending() == []
    finally:
        queue.stop()


def test_refreshes_wait_while_another_process_syncs_and_run_once_it_is_done(
    runtime: JobsRuntime, sandbox_crm: Any
) -> None:
    syncer = runtime.syncer()
    syncer.run()
    queue = RefreshQueue(runtime.store, syncer, background=True)
    reference = sorted(sandbox_crm.store.cases)[4]
    sandbox_crm.store.update_case(reference, {"title": "After the other sync"})
    other = Store.open(str(runtime.store.engine.url))
    try:
        with StoreLock(other, "sync").attempt() as held:
            assert held
            queue.request(reference)
            time.sleep(1.5)  # more than one retry interval
            assert queue.pending() == [reference]
            assert title_of(runtime.store, reference) != "After the other sync"
        assert _wait_for(lambda: title_of(runtime.store, reference) == "After the other sync")
    finally:
        queue.stop()
        other.close()


def test_drain_keeps_the_order_and_puts_back_what_it_could_not_lock(
    runtime: JobsRuntime,
) -> None:
    queue = RefreshQueue(runtime.store, runtime.syncer())
    other = Store.open(str(runtime.store.engine.url))
    try:
        for reference in ("A1", "B2", "A1", "C3"):
            queue.request(reference)
        with StoreLock(other, "sync").attempt():
            assert queue.drain().refreshed == {}
            queue.request("D4")
        assert queue.pending() == ["A1", "B2", "C3", "D4"]
    finally:
        other.close()
