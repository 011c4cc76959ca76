"""A lock shared by every process that uses one store, taken without waiting.

Several worker processes (one per portal host, or `caseload worker` beside `caseload serve`)
may run against one database. Outbox dispatch is safe with any number of them (the dispatcher
claims entries with a token and a lease, and `FOR UPDATE SKIP LOCKED` on PostgreSQL), but two
syncs at once would read the same CRM pages twice and race on the watermark for nothing. So a
sync round first tries this lock, and a worker that does not get it skips the round: another
worker is bringing the same index up to date.

PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`), keyed by the lock's name and
the store's schema (two portals kept in different schemas of one database do not block each
other). It lives as long as the connection that took it, so a worker that dies or loses its
connection releases it as soon as the server sees the connection gone.

SQLite: `flock` on a file beside the database (`<database>.<name>-lock`, mode 0600). Locks taken
through different open files conflict even within one process, and a process that dies releases
its lock with its file descriptors. An in-memory database is private to its process, so a thread
lock is enough.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from portal_extensions.store.database import Store

log = logging.getLogger(__name__)

#: The lock every sync and every pushed-case refresh of a store takes.
SYNC_LOCK = "sync"

_MEMORY_LOCKS: dict[int, threading.Lock] = {}
_MEMORY_LOCKS_GUARD = threading.Lock()

_PG_KEY = "hashtextextended(:name || ':' || current_schema(), 0)"


class StoreLock:
    """One named lock across every process sharing `store`; see the module docstring."""

    def __init__(self, store: Store, name: str) -> None:
        if not name.replace("-", "").isalnum():
            raise ValueError("a store lock name is letters, digits and hyphens")
        self.store = store
        self.name = name

    @contextmanager
    def attempt(self) -> Iterator[bool]:
        """Hold the lock for the `with` block if it is free; yields whether it was taken.

        Never waits: a caller that gets False should skip its work, not queue behind the
        holder (the holder is doing the same work).
        """
        if self.store.dialect == "postgresql":
            with self._postgresql() as held:
                yield held
            return
        database = make_url(str(self.store.engine.url)).database
        if not database or database == ":memory:":
            with self._in_process() as held:
                yield held
            return
        with self._file(Path(database)) as held:
            yield held

    @contextmanager
    def _postgresql(self) -> Iterator[bool]:
        conn = self.store.engine.connect()
        try:
            held = bool(
                conn.execute(
                    sa.text(f"SELECT pg_try_advisory_lock({_PG_KEY})"), {"name": self.name}
                ).scalar_one()
            )
            conn.commit()  # the lock is the session's, not the transaction's
            try:
                yield held
            finally:
                if held:
                    self._unlock_postgresql(conn)
        finally:
            conn.close()

    def _unlock_postgresql(self, conn: sa.Connection) -> None:
        try:
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({_PG_KEY})"), {"name": self.name})
            conn.commit()
        except sa.exc.SQLAlchemyError:
            # The connection is broken, so its session (and the lock with it) is gone, or will
            # be once the server notices; never hand a connection that may hold it back to
            # the pool.
            log.warning("could not release the %s lock cleanly; dropping its connection", self.name)
            conn.invalidate()

    @contextmanager
    def _in_process(self) -> Iterator[bool]:
        key = id(self.store.engine)
        with _MEMORY_LOCKS_GUARD:
            lock = _MEMORY_LOCKS.setdefault(key, threading.Lock())
        held = lock.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                lock.release()

    @contextmanager
    def _file(self, database: Path) -> Iterator[bool]:
        path = database.with_name(f"{database.name}.{self.name}-lock")
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
            except BlockingIOError:
                held = False
            yield held
        finally:
            os.close(descriptor)  # releases the lock, if held


__all__ = ["SYNC_LOCK", "StoreLock"]
