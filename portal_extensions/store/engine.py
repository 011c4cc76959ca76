"""Opening the database: one engine factory for SQLite and PostgreSQL, and migrations.

SQLite gets WAL (readers never block the writer), foreign keys on (off by default in SQLite)
and a busy timeout (a second process waits instead of failing with "database is locked"). Its
files hold constituents' casework, so they are created readable by the service user alone
(0600, in a 0700 folder).
PostgreSQL may be given a schema to live in, which tests use to keep runs apart.

Migrations run under a lock so that any number of hosts may start at once on a new or not yet
upgraded database: without it, processes starting together each saw no schema, each created it,
and all but one crashed (an IntegrityError on PostgreSQL, "database is locked" on SQLite).
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import ConnectionPoolEntry

#: Execution option naming a connection that will write (SQLite takes the lock at BEGIN).
WRITE_OPTION = "caseload_write"

#: How much of a SQLite database file is read through a memory map.
MMAP_BYTES = 256 * 1024 * 1024

#: The PostgreSQL advisory lock every Caseload process takes to migrate ("CASELOAD" in ASCII).
MIGRATION_LOCK_KEY = 0x4341_5345_4C4F_4144

log = logging.getLogger(__name__)


class StoreError(RuntimeError):
    """The store could not be opened or migrated; the message says where and what to do."""


def make_engine(
    url: str, *, busy_timeout_ms: int = 10_000, schema: str | None = None, echo: bool = False
) -> Engine:
    """An engine for `url` (sqlite:///PATH or postgresql+psycopg://...) set up for the store."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            private_database_file(Path(database))
        engine = sa.create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
            # pysqlite opens transactions lazily and never for DDL; let SQLAlchemy emit BEGIN
            # itself so a batch is really one transaction (documented SQLAlchemy recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Read pages through a shared memory map instead of copying them into each
            # connection's small private cache: with a large case index, lists under load
            # otherwise spend their time re-reading the same pages (up to 256 MiB mapped).
            cursor.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn: sa.Connection) -> None:
            # A write transaction takes the write lock up front (IMMEDIATE), so two writers
            # queue on the busy timeout instead of one failing with "database is locked" when
            # it upgrades a read lock; reads stay deferred and never block anyone under WAL.
            immediate = conn.get_execution_options().get(WRITE_OPTION, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema is not None:
            connect_args["options"] = f"-csearch_path={schema}"
        return sa.create_engine(
            url, echo=echo, connect_args=connect_args, pool_pre_ping=True, future=True
        )
    raise StoreError(
        f"database URL uses {backend!r}; the store supports sqlite:///PATH and "
        "postgresql+psycopg://USER@HOST/DB (set CASELOAD_DATABASE_URL or store.database_url)"
    )


def private_database_file(path: Path) -> None:
    """Make the SQLite database file readable by the service user alone (0600) before SQLite
    opens it, creating its folder (and any missing parents) 0700. SQLite gives the `-wal` and
    `-shm` files it creates the database file's mode; any left from before are tightened too.
    An existing folder is left as it is, but one that others may enter is logged."""
    folder = path.parent
    missing = [each for each in (folder, *folder.parents) if not each.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        os.chmod(created, 0o700)  # mkdir's mode does not reach the parents it makes
    if not missing and folder.stat().st_mode & 0o077:
        log.warning(
            "the store's folder %s can be read by other users of this machine; "
            "make it private (chmod 700)",
            folder,
        )
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for each in (path, *(path.with_name(path.name + end) for end in ("-wal", "-shm"))):
        try:
            info = each.stat()
        except FileNotFoundError:
            continue
        if info.st_uid == os.getuid() and info.st_mode & 0o077:
            os.chmod(each, 0o600)  # a file made before Caseload kept its files private


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    location = resources.files("portal_extensions.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (head by default); safe to call on every start, from any
    number of processes at once.

    A database already at head is left alone without taking any lock, so an ordinary start
    costs one read. Otherwise the migration runs under a lock held by one process at a time (a
    PostgreSQL advisory lock, or a lock file beside the SQLite database); whoever waited finds
    the schema already brought up to date and does nothing.
    """
    try:
        with engine.connect() as connection:
            if _is_at(connection, revision):
                return
            connection.rollback()
            with _migration_lock(engine, connection):
                if _is_at(connection, revision):
                    return  # another process has just done it
                if engine.dialect.name == "sqlite":
                    # Outside any transaction, as before the lock: alembic then runs each
                    # migration in a transaction of its own (SQLite holds no lock of ours).
                    connection.rollback()
                command.upgrade(_alembic_config(connection), revision)
                connection.commit()
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open the store database at {engine.url.render_as_string()}: "
            f"{exc.orig}. Check the database URL (CASELOAD_DATABASE_URL) and that the "
            "server is running and reachable."
        ) from None


def _is_at(connection: sa.Connection, revision: str) -> bool:
    """Whether the database already stands exactly at `revision` ("head": the newest)."""
    current = MigrationContext.configure(connection).get_current_heads()
    wanted = {rev.revision for rev in _scripts().get_revisions(revision) if rev is not None}
    return set(current) == wanted


@cache
def _scripts() -> ScriptDirectory:
    """The shipped migrations (read once per process: they never change while it runs)."""
    return ScriptDirectory.from_config(_alembic_config())


@contextmanager
def _migration_lock(engine: Engine, connection: sa.Connection) -> Iterator[None]:
    """Hold the store's migration lock while the body runs (in-memory SQLite needs none).

    PostgreSQL: a transaction-scoped advisory lock on `connection`, so the upgrade must run in
    that same transaction (alembic joins a transaction it finds open, and PostgreSQL's DDL is
    transactional); committing or rolling back releases it, as does a dropped connection.
    SQLite: an exclusive flock on `<database>.migrate.lock` (0600), released when the file is
    closed, also by the kernel when a process dies holding it.
    """
    if engine.dialect.name == "postgresql":
        got = connection.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        ).scalar()
        if not got:
            log.info("another process is migrating the store; waiting for it to finish")
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate.lock")
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is migrating the store (%s); waiting for it", path)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of Caseload."""
    return _scripts().get_current_head()


__all__ = [
    "MIGRATION_LOCK_KEY",
    "WRITE_OPTION",
    "StoreError",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
    "private_database_file",
]
