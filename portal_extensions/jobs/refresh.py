"""One-case refreshes asked for by CRM push events: a deduplicated queue and who drains it.

The push-event route only queues the case's CRM reference and answers at once; the refresh
itself (the case read afresh from the CRM and audited, `jobs.events.refresh_from_event`) happens
off the request. In a process that runs the worker, the worker's loop drains the queue each
round. A portal process without a worker (`caseload serve --workers N`, or `--no-worker` beside
a separate `caseload worker`) drains its own queue on a small background thread, started when
the first event arrives; so whichever portal process or host the CRM's event reaches, the case
is refreshed within a moment.

Refreshes take the store's sync lock (`StoreLock`, as syncs do): a refresh written while a sync
of the same case is between its read and its write could otherwise be overwritten by the
older copy. While another process holds the lock, the references wait for the next attempt.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from connector.errors import CRMError
from portal_extensions.jobs.events import refresh_from_event
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.database import Store
from portal_extensions.store.engine import StoreError
from portal_extensions.store.locks import SYNC_LOCK, StoreLock

log = logging.getLogger(__name__)

#: Refreshes waiting beyond this are dropped (and logged): a flood of events must not grow a
#: process's memory without bound, and the next sync reads those cases anyway.
MAX_PENDING_REFRESHES = 10_000
#: Refreshes done per drain, so a burst of events does not hold up the worker's other work.
REFRESHES_PER_ROUND = 200
#: How often a background drainer tries again while the sync lock is held elsewhere.
RETRY_SECONDS = 1.0


def describe(exc: BaseException) -> str:
    """A failure in words fit for the log: the connector's and the store's errors are written
    to hold no personal data; any other error is named by type only, since its message may
    quote a record."""
    if isinstance(exc, CRMError | StoreError):
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


@dataclass
class Drained:
    """What one drain did: each reference's outcome, and the failures in words."""

    refreshed: dict[str, str] = field(default_factory=dict)  # CRM reference -> outcome
    errors: list[str] = field(default_factory=list)


class RefreshQueue:
    """CRM references waiting for a refresh, each once, drained under the store's sync lock."""

    def __init__(self, store: Store, syncer: Syncer, *, background: bool = False) -> None:
        self.store = store
        self.syncer = syncer
        self.lock = StoreLock(store, SYNC_LOCK)
        #: Set whenever a reference is queued: the worker's loop waits on it to wake early.
        self.wake = threading.Event()
        self._pending: dict[str, None] = {}  # insertion-ordered set
        self._guard = threading.Lock()
        self._background = background
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def request(self, reference: str) -> bool:
        """Queue a refresh (thread-safe; a reference already waiting is not queued twice).
        Returns False when the queue is full and the request was dropped."""
        with self._guard:
            if reference not in self._pending:
                if len(self._pending) >= MAX_PENDING_REFRESHES:
                    log.warning(
                        "%d case refreshes are already waiting; dropped one (the next sync "
                        "reads it)",
                        len(self._pending),
                    )
                    return False
                self._pending[reference] = None
            if self._background and (self._thread is None or not self._thread.is_alive()):
                self._start()
        self.wake.set()
        return True

    def pending(self) -> list[str]:
        """The references waiting, oldest first."""
        with self._guard:
            return list(self._pending)

    def drain(self) -> Drained:
        """Refresh up to `REFRESHES_PER_ROUND` waiting cases, if the sync lock is free (else
        they wait). A case whose refresh fails is logged and dropped: the next sync reads it."""
        drained = Drained()
        with self._guard:
            taken = list(self._pending)[:REFRESHES_PER_ROUND]
            for reference in taken:
                del self._pending[reference]
        if not taken:
            return drained
        try:
            with self.lock.attempt() as held:
                if not held:  # a sync is running elsewhere: keep them for the next attempt
                    self._put_back(taken)
                    return drained
                for reference in taken:
                    drained.refreshed[reference] = self._refresh_one(reference, drained)
        except Exception as exc:  # the lock itself: the store is unreachable
            log.error("case refreshes failed (%s); the next sync reads them", describe(exc))
            drained.errors.append(f"refresh: {describe(exc)}")
        return drained

    def _put_back(self, references: list[str]) -> None:
        with self._guard:
            waiting = self._pending
            self._pending = dict.fromkeys(references)
            self._pending.update(waiting)

    def _refresh_one(self, reference: str, drained: Drained) -> str:
        try:
            return refresh_from_event(self.syncer, reference)
        except Exception as exc:
            # A CRM reference is the CRM's key, not personal data: it says which case to look at.
            log.warning(
                "refresh of case %s failed (%s); the next sync reads it", reference, describe(exc)
            )
            drained.errors.append(f"refresh {reference}: {describe(exc)}")
            return "failed"

    # ------------------------------------------------- on its own (no worker in this process)
    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="caseload-refresh", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait(RETRY_SECONDS)
            self.wake.clear()
            if self._stop.is_set():
                break
            try:
                self.drain()
            except Exception as exc:  # drain handles its own; this is the last line
                log.error("case refresh round failed (%s); carrying on", describe(exc))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background drainer, if one was started."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = [
    "MAX_PENDING_REFRESHES",
    "REFRESHES_PER_ROUND",
    "Drained",
    "RefreshQueue",
    "describe",
]
