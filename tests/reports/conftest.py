"""The seeded demo council, synced once per module and backend (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reports.council import Council, build_council
from tests.store.conftest import BACKENDS, database, fresh_database, postgres_url  # noqa: F401


@pytest.fixture(scope="module", params=BACKENDS)
def council(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Council]:
    with fresh_database(request.param, request, tmp_path_factory) as fresh:
        store = fresh.open()
        try:
            yield build_council(store, tmp_path_factory.mktemp("council"))
        finally:
            store.close()
