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
from contextlib import contextmanager
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


BACKENDS = ["sqlite", "postgresql"]
"""Every store query test runs on both (parametrize a fixture with these, then open
`fresh_database`)."""


@contextmanager
def fresh_database(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """An empty database of its own on `backend`: a new SQLite file, or a new PostgreSQL
    schema (dropped afterwards), so no test sees another's rows."""
    if backend == "sqlite":
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


@pytest.fixture(params=BACKENDS)
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    with fresh_database(request.param, request, tmp_path_factory) as database:
        yield database


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


def _council(database: Database) -> Store:
    from tests.store.seeding import ALL, seed  # the web fixtures' cases; only these tests need them

    return seed(database.open(), ALL)


@pytest.fixture(scope="module", params=BACKENDS)
def read_only_council(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The fixture council and `seeding.ALL`, seeded once per module and backend for tests that
    only read (seeding and migrating per test would multiply the suite's time)."""
    with fresh_database(request.param, request, tmp_path_factory) as database:
        store = _council(database)
        try:
            yield store
        finally:
            store.close()


@pytest.fixture
def council(database: Database) -> Iterator[Store]:
    """The fixture council and `seeding.ALL` in a database of this test's own, to write to."""
    store = _council(database)
    try:
        yield store
    finally:
        store.close()
