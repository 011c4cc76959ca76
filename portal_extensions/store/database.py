"""`Store`: the handle the portal, sync, outbox and CLI share to reach the database."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from portal_extensions.config import StoreSettings
from portal_extensions.store.engine import WRITE_OPTION, StoreError, make_engine, migrate

#: The connection `Store.read()` and `Store.write()` hand out, for the type hints of callers
#: outside the store that pass it on to store functions (they never build SQL themselves).
Connection = sa.Connection


class WriteGate:
    """Queues SQLite write transactions from every thread and process on one lock file.

    SQLite's own wait for its write lock sleeps in steps of up to 100 ms, so with several
    portal workers a page that writes its audit event can stall for hundreds of ms behind
    another worker's few-ms write. Here a writer waits on a thread lock (woken at once) and on
    an advisory lock on `<database>.write-lock` shared by all processes (polled every few
    ms), before SQLite's BEGIN IMMEDIATE, which then finds the lock free. A process that dies
    releases its lock with its file descriptors. Re-entrant within a thread.
    """

    def __init__(self, database: Path, timeout_s: float) -> None:
        self.path = database.with_name(database.name + ".write-lock")
        self.timeout_s = timeout_s
        self._thread_lock = threading.Lock()
        self._held = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        deadline = time.monotonic() + self.timeout_s
        if not self._thread_lock.acquire(timeout=self.timeout_s):
            raise self._busy()
        try:
            descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                pause = 0.0005
                while True:
                    try:
                        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise self._busy() from None
                        time.sleep(pause)
                        pause = min(pause * 2, 0.004)
                self._held.depth = 1
                try:
                    yield
                finally:
                    self._held.depth = 0
            finally:
                os.close(descriptor)  # releases the advisory lock
        finally:
            self._thread_lock.release()

    def _busy(self) -> StoreError:
        return StoreError(
            f"the store has been busy with another write for {self.timeout_s:.0f} s; check "
            f"for a stuck `caseload` process holding {self.path}"
        )


class Store:
    """An open, migrated store. `read()` and `write()` hand out transactional connections."""

    def __init__(self, engine: Engine, write_gate: WriteGate | None = None) -> None:
        self.engine = engine
        self.write_gate = write_gate

    @classmethod
    def open(
        cls,
        url: str,
        *,
        schema: str | None = None,
        busy_timeout_ms: int = 10_000,
        run_migrations: bool = True,
    ) -> Store:
        """Open the database at `url`, bringing its schema up to date first (the default)."""
        engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, schema=schema)
        if run_migrations:
            migrate(engine)
        database = make_url(url).database if engine.dialect.name == "sqlite" else None
        gate = (
            WriteGate(Path(database), busy_timeout_ms / 1000)
            if database and database != ":memory:"
            else None
        )
        return cls(engine, gate)

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        """A connection in a read transaction (rolled back at the end)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A connection in a write transaction: committed on success, rolled back on error."""
        gate = self.write_gate.held() if self.write_gate is not None else nullcontext()
        with gate, self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def ping(self) -> None:
        """Returns when the database answers a trivial query, raises otherwise (the load
        balancer's probe, `/healthz`)."""
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: StoreSettings) -> Store:
    """Open (and migrate) the store that `settings` name: SQLite under data_dir by default."""
    return Store.open(settings.url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


__all__ = ["Connection", "Store", "WriteGate", "open_store"]
