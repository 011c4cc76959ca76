"""Store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL comes from CASELOAD_TEST_POSTGRES_URL (default: trust auth on loopback, database
`test`); each test gets its own schema, dropped afterwards, so runs never collide. If no server
answers, the PostgreSQL tests fail and say how to fix it; they skip only when the operator says
so with CASELOAD_SKIP_POSTGRES=1.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from portal_extensions.store import Store

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Database:
    """Where one test's store lives: enough for another process to open the same store."""

    url: str
    schema: str | None

    @property
    def backend(self) -> str:
        return "postgresql" if self.schema else "sqlite"

    def open(self) -> Store:
        return Store.open(self.url, schema=self.schema)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    if os.environ.get("CASELOAD_SKIP_POSTGRES") == "1":
        pytest.skip("PostgreSQL tests skipped because CASELOAD_SKIP_POSTGRES=1 is set")
    url = os.environ.get("CASELOAD_TEST_POSTGRES_URL", DEFAULT_PG)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"no PostgreSQL answers at {sa.engine.make_url(url).render_as_string()} "
            f"({type(exc.orig).__name__}). Point CASELOAD_TEST_POSTGRES_URL at a server you may "
            "create schemas in (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test), or "
            "start one (Debian: apt-get install postgresql && pg_ctlcluster 15 main start), "
            "or set CASELOAD_SKIP_POSTGRES=1 to skip these tests deliberately.",
            pytrace=False,
        )
    finally:
        engine.dispose()
    yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "caseload.sqlite"
        yield Database(f"sqlite:///{path}", None)
        return
    url = request.getfixturevalue("postgres_url")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(url, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def open_store(database: Database) -> Iterator[Callable[[], Store]]:
    """Opens more handles on the test's database (a second dispatcher, a re-started sync)."""
    opened: list[Store] = []

    def factory() -> Store:
        store = database.open()
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[[], Store]) -> Store:
    return open_store()
