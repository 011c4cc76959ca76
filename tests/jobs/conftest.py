"""Fixtures for the worker's tests: a store, the sandbox CRM wired through the real connector
and Lagan profile, and a clock the test moves by hand."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.base import CRMClient
from mappings import Mapping, load_profile
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.database import Store
from portal_extensions.store.schema import cases, sync_state
from tests.store.sandbox_helpers import lagan_client

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class JobsRuntime:
    """The parts of `Runtime` the worker uses, built over one store and one CRM client."""

    store: Store
    client: CRMClient
    mapping: Mapping = field(default_factory=lambda: load_profile("lagan"))

    def syncer(self) -> Syncer:
        return Syncer(self.store, self.client, self.mapping, batch_size=200)

    def dispatcher(self) -> Dispatcher:
        return Dispatcher(self.store, self.client, self.mapping, backoff_initial=0.0)


def title_of(store: Store, reference: str) -> str | None:
    with store.read() as conn:
        title: str | None = conn.execute(
            sa.select(cases.c.title).where(cases.c.crm_reference == reference)
        ).scalar_one_or_none()
    return title


def sync_row(store: Store) -> Any:
    with store.read() as conn:
        return conn.execute(sa.select(sync_state).where(sync_state.c.name == "cases")).one()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    yield opened
    opened.close()


@pytest.fixture
def runtime(store: Store, sandbox_crm: Any) -> JobsRuntime:
    return JobsRuntime(store, lagan_client(sandbox_crm, retry_attempts=1))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


HOUR = timedelta(hours=1)
FIVE_MINUTES = timedelta(minutes=5)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str | None]]:
    """Where a store lives (URL and PostgreSQL schema), to open it more than once."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'caseload.sqlite'}", None
        return
    if os.environ.get("CASELOAD_SKIP_POSTGRES") == "1":
        pytest.skip("PostgreSQL tests skipped because CASELOAD_SKIP_POSTGRES=1 is set")
    url = os.environ.get("CASELOAD_TEST_POSTGRES_URL", DEFAULT_PG)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, schema
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
