"""`Store`: the handle the portal, sync, outbox and CLI share to reach the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from portal_extensions.settings import StoreSettings
from portal_extensions.store.engine import WRITE_OPTION, make_engine, migrate


class Store:
    """An open, migrated store. `read()` and `write()` hand out transactional connections."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        return cls(engine)

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
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: StoreSettings) -> Store:
    """Open (and migrate) the store that `settings` name: SQLite under data_dir by default."""
    return Store.open(settings.url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


__all__ = ["Store", "open_store"]
