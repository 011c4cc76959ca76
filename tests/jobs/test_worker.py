"""The worker loop: sync on its interval, dispatch every round, pushed refreshes, failures."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from portal_extensions.jobs.worker import MAX_PENDING_REFRESHES, Worker, locked_sync
from portal_extensions.store.audit import events_for
from portal_extensions.store.database import Store
from portal_extensions.store.locks import StoreLock
from portal_extensions.store.outbox import OutboxState, entries_for_case, queue_note
from portal_extensions.store.schema import cases
from tests.jobs.conftest import FIVE_MINUTES, HOUR, FakeClock, JobsRuntime, sync_row, title_of

pytestmark = pytest.mark.sandbox_crm(cases=30, seed=4)


def _worker(runtime: Any, clock: FakeClock, **kwargs: Any) -> Worker:
    options: dict[str, Any] = {"sync_interval": FIVE_MINUTES, "dispatch_interval": HOUR}
    options.update(kwargs)
    return Worker(runtime, clock=clock, **options)


def _a_reference(sandbox_crm: Any) -> str:
    reference: str = sorted(sandbox_crm.store.cases)[3]
    return reference


def test_a_crm_change_is_indexed_once_the_sync_interval_has_passed_and_not_before(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock
) -> None:
    worker = _worker(runtime, clock)
    first = worker.run_once()
    assert first.sync is not None and first.sync.fetched == 30  # the first round syncs at once
    reference = _a_reference(sandbox_crm)
    sandbox_crm.store.update_case(reference, {"title": "Changed in the CRM"})

    clock.advance(FIVE_MINUTES.total_seconds() - 1)
    early = worker.run_once()
    assert early.sync is None and early.sync_skipped is None and not early.errors
    assert title_of(runtime.store, reference) != "Changed in the CRM"

    clock.advance(1)
    due = worker.run_once()
    assert due.sync is not None and due.sync.upserts.updated == 1
    assert title_of(runtime.store, reference) == "Changed in the CRM"
    assert not worker.sync_due()  # the interval starts again


def test_every_round_dispatches_the_outbox_whether_or_not_a_sync_is_due(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock
) -> None:
    worker = _worker(runtime, clock)
    worker.run_once()
    with runtime.store.read() as conn:
        portal_id = conn.execute(
            sa.select(cases.c.portal_id).where(cases.c.crm_reference == _a_reference(sandbox_crm))
        ).scalar_one()
    for text in ("First note from the portal", "Second note from the portal"):
        with runtime.store.write() as conn:
            queue_note(conn, portal_id, text, actor="cllr-0001")
        round_ = worker.run_once()
        assert round_.sync is None  # not due: only the outbox moved
        assert round_.dispatched == 1
    with runtime.store.read() as conn:
        states = [entry.state for entry in entries_for_case(conn, portal_id)]
    assert states == [OutboxState.CONFIRMED, OutboxState.CONFIRMED]


def test_a_requested_refresh_rereads_that_case_in_the_next_round_without_a_sync(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock
) -> None:
    worker = _worker(runtime, clock)
    worker.run_once()
    watermark = sync_row(runtime.store).watermark
    reference = _a_reference(sandbox_crm)
    sandbox_crm.store.update_case(reference, {"title": "Pushed by the CRM"})

    assert worker.request_refresh(reference) and worker.request_refresh(reference)
    assert worker.pending_refreshes() == [reference]  # the same case is queued once

    round_ = worker.run_once()
    assert round_.refreshed == {reference: "updated"}
    assert round_.sync is None
    assert title_of(runtime.store, reference) == "Pushed by the CRM"
    assert worker.pending_refreshes() == []
    assert sync_row(runtime.store).watermark == watermark  # one case, not a sync
    with runtime.store.read() as conn:
        audited = [e for e in events_for(conn, reference) if e.action == "crm.case_event"]
    assert [(e.actor, e.subject_id, e.detail) for e in audited] == [
        ("system:crm-event", reference, {"outcome": "updated"})
    ]


def test_a_refresh_of_a_case_gone_from_the_crm_marks_it_removed(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock
) -> None:
    worker = _worker(runtime, clock)
    worker.run_once()
    reference = _a_reference(sandbox_crm)
    with sandbox_crm.store.lock:
        sandbox_crm.store.cases.pop(reference)
    worker.request_refresh(reference)
    assert worker.run_once().refreshed == {reference: "removed"}
    with runtime.store.read() as conn:
        removed_at = conn.execute(
            sa.select(cases.c.removed_at).where(cases.c.crm_reference == reference)
        ).scalar_one()
    assert removed_at is not None


def test_the_refresh_queue_is_bounded(runtime: JobsRuntime, clock: FakeClock) -> None:
    worker = _worker(runtime, clock)
    for number in range(MAX_PENDING_REFRESHES):
        assert worker.request_refresh(f"REF{number}")
    assert worker.request_refresh("one-too-many") is False
    assert len(worker.pending_refreshes()) == MAX_PENDING_REFRESHES


def test_a_failed_sync_is_recorded_and_the_next_interval_tries_again(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    worker = _worker(runtime, clock)
    sandbox_crm.set_faults("*:503=1")
    with caplog.at_level(logging.INFO, logger="portal_extensions.jobs.worker"):
        failed = worker.run_once()
    assert failed.sync is None and [e.split(":")[0] for e in failed.errors] == ["sync"]
    assert "CRMUnavailable" in caplog.text and "tried again in" in caplog.text
    assert sync_row(runtime.store).last_error.startswith("CRMUnavailable")  # Health reads it

    sandbox_crm.set_faults(None)
    clock.advance(FIVE_MINUTES.total_seconds())
    recovered = worker.run_once()
    assert recovered.sync is not None and recovered.sync.fetched == 30
    assert sync_row(runtime.store).last_error is None


class _Flaky:
    """A dispatcher whose first passes fail with an error quoting personal data."""

    def __init__(self, real: Any, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.passes = 0

    def run_once(self, limit: int = 20) -> Any:
        self.passes += 1
        if self.passes <= self.failures:
            raise RuntimeError("Mrs Jane Example of 1 High Street")
        return self.real.run_once(limit)


def test_a_failing_round_is_logged_without_its_data_and_the_loop_goes_on(
    runtime: JobsRuntime, sandbox_crm: Any, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = _Flaky(runtime.dispatcher(), failures=3)

    class _Runtime(JobsRuntime):
        def dispatcher(self) -> Any:
            return flaky

    worker = Worker(
        _Runtime(runtime.store, runtime.client),
        sync_interval=HOUR,
        dispatch_interval=timedelta(milliseconds=20),
    )
    with caplog.at_level(logging.INFO, logger="portal_extensions.jobs.worker"):
        worker.start_in_thread()
        deadline = time.monotonic() + 10
        while flaky.passes < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert worker.stop(timeout=10)
    assert flaky.passes >= 6  # three failed passes, and the loop went on
    assert "outbox dispatch failed (RuntimeError)" in caplog.text
    assert "Jane Example" not in caplog.text and "High Street" not in caplog.text
    assert sync_row(runtime.store).last_finished_at is not None  # its sync still ran


def test_start_in_thread_serves_a_refresh_promptly_and_stop_joins_the_thread(
    runtime: JobsRuntime, sandbox_crm: Any
) -> None:
    worker = Worker(runtime, sync_interval=HOUR, dispatch_interval=HOUR)
    thread = worker.start_in_thread()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            worker.start_in_thread()
        deadline = time.monotonic() + 10
        while not _synced(runtime.store) and time.monotonic() < deadline:
            time.sleep(0.02)
        reference = _a_reference(sandbox_crm)
        sandbox_crm.store.update_case(reference, {"title": "Refreshed while running"})
        worker.request_refresh(reference)  # wakes the loop although its interval is an hour
        while (
            title_of(runtime.store, reference) != "Refreshed while running"
            and time.monotonic() < deadline
        ):
            time.sleep(0.02)
        assert title_of(runtime.store, reference) == "Refreshed while running"
    finally:
        started = time.monotonic()
        assert worker.stop(timeout=10)
    assert time.monotonic() - started < 5 and not thread.is_alive()


def _synced(store: Store) -> bool:
    try:
        return sync_row(store).last_finished_at is not None
    except sa.exc.NoResultFound:  # no sync has started yet
        return False


def test_run_forever_returns_when_its_stop_event_is_set(runtime: JobsRuntime) -> None:
    worker = Worker(runtime, sync_interval=HOUR, dispatch_interval=HOUR)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,))
    thread.start()
    time.sleep(0.3)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_worker_skips_its_sync_while_another_holds_the_store_sync_lock(
    runtime: JobsRuntime, sandbox_crm: Any, clock: FakeClock, tmp_path: Any
) -> None:
    worker = _worker(runtime, clock)
    other = Store.open(str(runtime.store.engine.url))  # another process's handle, in effect
    try:
        with StoreLock(other, "sync").attempt() as held:
            assert held
            skipped = worker.run_once()
            reference = _a_reference(sandbox_crm)
            worker.request_refresh(reference)
            waiting = worker.run_once()
        assert skipped.sync is None and skipped.sync_skipped is not None
        assert waiting.refreshed == {} and worker.pending_refreshes() == [reference]
        assert worker.sync_due() is False  # the other worker is bringing the index up to date
        clock.advance(FIVE_MINUTES.total_seconds())
        after = worker.run_once()
        assert after.sync is not None and after.refreshed == {reference: "updated"}
    finally:
        other.close()


def test_intervals_must_be_positive(runtime: JobsRuntime) -> None:
    with pytest.raises(ValueError, match="positive"):
        Worker(runtime, sync_interval=timedelta(0), dispatch_interval=HOUR)


def test_a_command_line_sync_through_locked_sync_never_runs_beside_the_worker(
    runtime: JobsRuntime,
) -> None:
    syncer = runtime.syncer()
    other = Store.open(str(runtime.store.engine.url))
    try:
        with StoreLock(other, "sync").attempt() as held:
            assert held
            started = time.monotonic()
            waited = locked_sync(runtime.store, syncer, full=True, wait=timedelta(seconds=0.6))
            assert waited is None and time.monotonic() - started >= 0.6
        assert _synced(runtime.store) is False  # it did not start at all
        progress: list[int] = []
        report = locked_sync(runtime.store, syncer, full=True, on_progress=progress.append)
    finally:
        other.close()
    assert report is not None and report.full and report.fetched == 30 == sum(progress)
