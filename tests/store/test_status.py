"""The store's status figures and the Health page over them, on both backends: the CRM check,
the outbox, and a last sync that turns red once it is several sync intervals old."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from connector.base import HealthCheck as Probe
from connector.base import HealthReport
from portal_extensions.casework.status import PortalHealth, collect_status, in_words
from portal_extensions.store import Store
from portal_extensions.store.schema import CASES_SYNC_STATE, sync_state
from portal_extensions.store.status import read_status

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


class _FakeCRM:
    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def health(self) -> HealthReport:
        return HealthReport(
            crm="lagan",
            checks=[Probe(name="auth", ok=self.ok, detail="token accepted" if self.ok else "401")],
        )


def _synced(store: Store, finished: datetime, error: str | None = None) -> None:
    with store.write() as conn:
        conn.execute(
            sa.insert(sync_state).values(
                name=CASES_SYNC_STATE,
                last_started_at=finished - timedelta(seconds=30),
                last_finished_at=finished,
                last_count=12,
                last_seconds=3.5,
                last_error=error,
            )
        )


def _checks(health: PortalHealth) -> dict[str, tuple[bool, str]]:
    return {check.name: (check.ok, check.detail) for check in health()}


def test_store_health_reports_the_crm_sync_and_outbox(council) -> None:
    checks = {c.name: c for c in PortalHealth(council, _FakeCRM(True))()}  # type: ignore[arg-type]
    assert checks["CRM reachable"].ok and "auth: token accepted" in checks["CRM reachable"].detail
    assert not checks["Last sync from the CRM"].ok  # no sync has run in this store
    assert checks["Last sync from the CRM"].detail == "no sync has finished yet"
    outbox = checks["Writes waiting for the CRM"]
    assert outbox.ok and re.fullmatch(r"[1-9][0-9]* waiting, 0 need attention", outbox.detail)
    assert checks["Case index"].detail == f"{read_status(council).index_size} cases"
    down = {c.name: c for c in PortalHealth(council, _FakeCRM(False))()}  # type: ignore[arg-type]
    assert not down["CRM reachable"].ok
    unconfigured = {check.name: check for check in PortalHealth(council)()}
    assert "no CRM is configured" in unconfigured["CRM reachable"].detail


def test_a_recent_sync_is_healthy_and_says_how_old_it_is(store: Store) -> None:
    _synced(store, NOW - timedelta(minutes=14))
    ok, detail = _checks(PortalHealth(store, clock=lambda: NOW))["Last sync from the CRM"]
    assert ok, detail
    assert detail == "finished 5 December 2026 at 8:46am, 14 minutes ago"


def test_health_turns_red_once_the_last_sync_is_older_than_three_intervals(
    store: Store,
) -> None:
    _synced(store, NOW - timedelta(minutes=16))
    ok, detail = _checks(PortalHealth(store, clock=lambda: NOW))["Last sync from the CRM"]
    assert not ok
    assert detail.startswith("finished 5 December 2026 at 8:44am, 16 minutes ago; ")
    assert "a sync is due every 5 minutes" in detail
    assert "not been brought up to date for over 15 minutes" in detail
    assert "`caseload worker`" in detail
    # The same sync is fine for a council that syncs hourly ...
    hourly = PortalHealth(store, sync_interval=timedelta(hours=1), clock=lambda: NOW)
    assert _checks(hourly)["Last sync from the CRM"][0]
    # ... until three hours have passed.
    later = PortalHealth(
        store, sync_interval=timedelta(hours=1), clock=lambda: NOW + timedelta(hours=3)
    )
    ok, detail = _checks(later)["Last sync from the CRM"]
    assert not ok and "3 hours ago" in detail and "every 1 hour," in detail


def test_a_failed_last_run_is_red_even_after_a_recent_success(store: Store) -> None:
    _synced(store, NOW - timedelta(minutes=2), error="CRMUnavailable: lagan search timed out")
    ok, detail = _checks(PortalHealth(store, clock=lambda: NOW))["Last sync from the CRM"]
    assert not ok
    assert detail.endswith(
        "2 minutes ago; the last run failed: CRMUnavailable: lagan search timed out"
    )


def test_the_sync_interval_must_be_a_length_of_time(store: Store) -> None:
    with pytest.raises(ValueError, match="sync_interval"):
        PortalHealth(store, sync_interval=timedelta(0))


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0, "0 seconds"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "1 minute"),
        (299, "4 minutes"),
        (3600, "1 hour"),
        (47 * 3600, "47 hours"),
        (2 * 86400, "2 days"),
        (-5, "0 seconds"),
    ],
)
def test_lengths_of_time_read_as_a_person_says_them(seconds: int, words: str) -> None:
    assert in_words(timedelta(seconds=seconds)) == words


def test_the_status_report_lists_the_store_and_the_crm(store: Store) -> None:
    _synced(store, NOW - timedelta(minutes=1))
    report = collect_status(store, _FakeCRM(True))  # type: ignore[arg-type]
    assert report.sync.last_finished_at == NOW - timedelta(minutes=1)
    assert report.crm is not None and report.crm.ok
    lines = report.lines()
    assert lines[2] == "last sync       2026-12-05T08:59:00+00:00, 12 cases in 3.5 s"
    assert "CRM             healthy" in lines
    assert list(report.model_dump()) == [
        "database",
        "schema_revision",
        "index_size",
        "removed_cases",
        "sync",
        "outbox",
        "crm",
    ]
