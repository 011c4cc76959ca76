"""The worker: one loop for Caseload's background work.

`caseload worker` runs it on its own, `caseload serve` runs it in a thread beside the portal
(unless `--no-worker`), and the demo runs it too, so every deployment keeps its index and the
CRM in step the same way. Each round (`run_once`) does what is due:

1. refreshes the cases the CRM has pushed events about (`request_refresh`, queued by the
   push-event route), each re-read from the CRM and audited by `jobs.events.refresh_from_event`: an
   event is only a nudge, never trusted for content;
2. one outbox dispatch pass (queued writes sent to the CRM);
3. a sync of the cases changed since the watermark, once `sync_interval` has passed since the
   last attempt (the first round syncs at once).

The loop (`run_forever`) runs a round every `dispatch_interval`, at once again while the outbox
has more ready than one pass takes, and early when a refresh is requested.

A failing round is logged (by error type and the connector's data-free message, never case
content) and the loop goes on; the sync's own failure is also recorded in `sync_state`, which
the Health page reads. Killing the worker at any point is safe: a sync resumes from its last
committed page, an outbox entry claimed by a dead worker is taken over when its lease ends.

Several workers on one store (several hosts sharing one PostgreSQL): dispatch is safe with any
number (the dispatcher's claim token, lease and `SKIP LOCKED`); sync and refreshes take the
store's `sync` lock (`StoreLock`), so only one worker syncs at a time and the others skip that
round, and a refresh never races a sync of the same case in another process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from portal_extensions.jobs.refresh import MAX_PENDING_REFRESHES, RefreshQueue, describe
from portal_extensions.jobs.sync import Syncer, SyncReport
from portal_extensions.store.database import Store
from portal_extensions.store.locks import SYNC_LOCK, StoreLock

log = logging.getLogger(__name__)

#: The longest the loop sleeps before looking at its stop event again.
STOP_CHECK_SECONDS = 1.0
#: How often a sync that may wait for the lock (`locked_sync(wait=...)`) tries again.
LOCK_POLL_SECONDS = 0.5


class DispatchPass(Protocol):
    """What a dispatch pass reports (`jobs.dispatch.DispatchReport`)."""

    @property
    def handled(self) -> int: ...


class OutboxDispatcher(Protocol):
    """What the worker needs of the outbox dispatcher."""

    def run_once(self, limit: int = ...) -> DispatchPass: ...


class WorkerRuntime(Protocol):
    """What the worker needs of `portal_extensions.runtime.Runtime` (a protocol: jobs must not
    import the composition root, which imports the web app)."""

    @property
    def store(self) -> Store: ...

    def syncer(self) -> Syncer: ...

    def dispatcher(self) -> OutboxDispatcher: ...


@dataclass
class RoundReport:
    """What one round did: for the log line, and for tests."""

    refreshed: dict[str, str] = field(default_factory=dict)  # CRM reference -> outcome
    dispatched: int = 0
    sync: SyncReport | None = None
    sync_skipped: str | None = None  # why a due sync did not run
    errors: list[str] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        """Whether the outbox had work this round (so more may be ready at once)."""
        return self.dispatched > 0


def locked_sync(
    store: Store,
    syncer: Syncer,
    *,
    full: bool = False,
    on_progress: Callable[[int], None] | None = None,
    wait: timedelta = timedelta(0),
) -> SyncReport | None:
    """Run a sync while holding the store's sync lock; None if another process still holds it
    after `wait` (polled every half second; the worker never waits: it skips the round).

    The worker syncs through this, and so should any other sync of the same store (`caseload
    sync`, a weekly `caseload sync --full`), so two never read the CRM into one index at once.
    """
    lock = StoreLock(store, SYNC_LOCK)
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        with lock.attempt() as held:
            if held:
                return syncer.run(full=full, on_progress=on_progress)
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(LOCK_POLL_SECONDS, max(0.0, deadline - time.monotonic())))


class Worker:
    """Runs sync, outbox dispatch and push-event refreshes for one store; see the module."""

    def __init__(
        self,
        runtime: WorkerRuntime,
        *,
        sync_interval: timedelta,
        dispatch_interval: timedelta,
        clock: Callable[[], float] = time.monotonic,
        dispatch_limit: int = 20,
    ) -> None:
        if sync_interval <= timedelta(0) or dispatch_interval <= timedelta(0):
            raise ValueError("the worker's sync and dispatch intervals must be positive")
        self.store = runtime.store
        self.syncer = runtime.syncer()
        self.dispatcher = runtime.dispatcher()
        self.sync_interval = sync_interval
        self.dispatch_interval = dispatch_interval
        self.dispatch_limit = dispatch_limit
        self.clock = clock
        self.refreshes = RefreshQueue(self.store, self.syncer)
        self._last_sync: float | None = None
        self._wake = self.refreshes.wake
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- requests
    def request_refresh(self, reference: str) -> bool:
        """Queue a one-case refresh for the next round (thread-safe, deduplicated; wakes the
        loop). Returns False when the queue is full and the request was dropped."""
        return self.refreshes.request(reference)

    def pending_refreshes(self) -> list[str]:
        """The CRM references waiting for a refresh, oldest first."""
        return self.refreshes.pending()

    # ------------------------------------------------------------------- round
    def sync_due(self) -> bool:
        """Whether `sync_interval` has passed since the last sync attempt (or none was made)."""
        if self._last_sync is None:
            return True
        return self.clock() - self._last_sync >= self.sync_interval.total_seconds()

    def sync_now(self) -> SyncReport | None:
        """Sync now, whatever the interval, and start the interval again.

        Returns the report, or None when another worker holds the store's sync lock (it is
        syncing the same index). A failure is recorded in `sync_state` by the syncer and raised.
        """
        self._last_sync = self.clock()
        report = locked_sync(self.store, self.syncer)
        # Measured from the end of the sync, so a slow sync is not followed by another at once.
        self._last_sync = self.clock()
        return report

    def run_once(self) -> RoundReport:
        """One round: pushed refreshes, one dispatch pass, and a sync if it is due.

        Never raises for a failure of the CRM or the store: each step's failure is logged and
        listed in the report, and the other steps still run.
        """
        report = RoundReport()
        self._wake.clear()
        drained = self.refreshes.drain()
        report.refreshed, report.errors = drained.refreshed, drained.errors
        try:
            report.dispatched = self.dispatcher.run_once(self.dispatch_limit).handled
        except Exception as exc:
            log.error("outbox dispatch failed (%s); the writes stay queued", describe(exc))
            log.debug("outbox dispatch failure", exc_info=True)
            report.errors.append(f"dispatch: {describe(exc)}")
        if self.sync_due():
            try:
                report.sync = self.sync_now()
            except Exception as exc:
                log.error(
                    "sync failed (%s); it is recorded for the Health page and tried again in %s",
                    describe(exc),
                    self.sync_interval,
                )
                log.debug("sync failure", exc_info=True)
                report.errors.append(f"sync: {describe(exc)}")
            else:
                if report.sync is None:
                    report.sync_skipped = "another worker is syncing this store"
                    log.info("sync skipped: another worker is syncing this store")
                else:
                    log.info("%s", report.sync.summary())
        return report

    # -------------------------------------------------------------------- loop
    def run_forever(self, stop: threading.Event) -> None:
        """Run rounds until `stop` is set: every `dispatch_interval`, at once while the outbox
        has more ready, and early when a refresh is requested. A round that fails unexpectedly
        is logged and the loop goes on."""
        log.info(
            "worker started: sync every %s, outbox every %s",
            self.sync_interval,
            self.dispatch_interval,
        )
        while not stop.is_set():
            started = self.clock()
            busy = False
            try:
                busy = self.run_once().busy
            except Exception as exc:  # run_once handles its own; this is the last line
                log.error("worker round failed (%s); carrying on", describe(exc))
                log.debug("worker round failure", exc_info=True)
            if busy:
                continue
            rest = self.dispatch_interval.total_seconds() - (self.clock() - started)
            while rest > 0 and not stop.is_set():
                if self._wake.wait(min(rest, STOP_CHECK_SECONDS)):
                    break
                rest -= STOP_CHECK_SECONDS
        log.info("worker stopped")

    @property
    def running(self) -> bool:
        """Whether the thread started by `start_in_thread` is running."""
        return self._thread is not None and self._thread.is_alive()

    def start_in_thread(self) -> threading.Thread:
        """Run the loop on a daemon thread (inside `caseload serve` and the demo)."""
        if self.running:
            raise RuntimeError("the worker is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.run_forever, args=(self._stop,), name="caseload-worker", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the thread started by `start_in_thread` and wait for it; returns whether it
        ended within `timeout` (a CRM call in flight may take up to its own deadline; the
        work it leaves is resumed by the next worker)."""
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the worker did not stop within %.0f s; leaving it to exit", timeout)
            return False
        self._thread = None
        return True


__all__ = [
    "MAX_PENDING_REFRESHES",
    "RoundReport",
    "Worker",
    "WorkerRuntime",
    "describe",
    "locked_sync",
]
