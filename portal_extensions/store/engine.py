"""Opening the database: one engine factory for SQLite and PostgreSQL, and migrations.

SQLite gets WAL (readers never block the writer), foreign keys on (off by default in SQLite)
and a busy timeout (a second process waits instead of failing with "database is locked").
PostgreSQL may be given a schema to live in, which tests use to keep runs apart.
"""

from __future__ import annotations

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
            Path(database).parent.mkdir(parents=True, exist_ok=True)
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


def _alembic_config(connection: sa.Connection) -> Config:
    config = Config()
    location = resources.files("portal_extensions.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (head by default); safe to call on every start."""
    try:
        with engine.connect() as connection:
            command.upgrade(_alembic_config(connection), revision)
            connection.commit()
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open the store database at {engine.url.render_as_string()}: "
            f"{exc.orig}. Check the database URL (CASELOAD_DATABASE_URL) and that the "
            "server is running and reachable."
        ) from None


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None before the first migration)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of Caseload."""
    config = Config()
    location = resources.files("portal_extensions.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    return ScriptDirectory.from_config(config).get_current_head()


__all__ = [
    "WRITE_OPTION",
    "StoreError",
    "current_revision",
    "head_revision",
    "make_engine",
    "migrate",
]
