"""Reports behind the test portal: the store's own report queries over a SQLite store holding
the web fixtures' council and cases, made once per test process on first use (most web tests
never open a report, and migrating a store for each would slow every one of them)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from portal_extensions.access import Reason, Viewer
from portal_extensions.reports.service import ReportDirectory, Reports
from portal_extensions.store.database import Store
from portal_extensions.store.reports import (
    Counts,
    DayCount,
    Dimension,
    ReportQuery,
    RequestGroup,
    StoreReports,
    VolumeRow,
)

_lock = threading.Lock()
_held: list[StoreReports] = []


def _seeded() -> StoreReports:
    with _lock:
        if not _held:
            from tests.portal.web_fixtures import CASES
            from tests.store.seeding import seeded_store

            folder = Path(tempfile.mkdtemp(prefix="caseload-reports-"))
            store: Store = seeded_store(folder / "reports.sqlite", CASES)
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            atexit.register(store.close)
            _held.append(StoreReports(store))
        return _held[0]


class SeededReportRows:
    """`ReportRows` over the fixture council's store, seeded when first asked."""

    def volumes(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: frozenset[Reason],
        query: ReportQuery,
        dimensions: tuple[Dimension, ...],
    ) -> dict[Dimension, list[VolumeRow]]:
        return _seeded().volumes(viewer, now, reasons, query, dimensions)

    def days(
        self, viewer: Viewer, now: datetime, reasons: frozenset[Reason], query: ReportQuery
    ) -> list[DayCount]:
        return _seeded().days(viewer, now, reasons, query)

    def service_requests(
        self,
        viewer: Viewer,
        now: datetime,
        reasons: frozenset[Reason],
        query: ReportQuery,
        services: frozenset[str] | None = None,
    ) -> list[RequestGroup]:
        return _seeded().service_requests(viewer, now, reasons, query, services)

    def totals(self, query: ReportQuery, ward_id: str | None) -> Counts:
        return _seeded().totals(query, ward_id)


def fixture_reports(
    directory: ReportDirectory, council_name: str = "Northshire Council"
) -> Reports:
    return Reports(
        SeededReportRows(), directory, nation="england", threshold=5, council_name=council_name
    )


def store_reports(store: Store, directory: ReportDirectory) -> Reports:
    """Reports over a test's own store."""
    return Reports(
        StoreReports(store), directory, nation="england", threshold=5, council_name="Northshire"
    )
