"""`caseload status` and the Health page: the store's figures with the CRM's own check.

The store reports what it holds (`store.status.read_status`); this adds whether the CRM answers
(only when a client is given, since that makes calls) and turns both into the lines an
administrator reads. The Health page (`PortalHealth`) also judges them: a sync that has not
finished for several intervals is shown as a failure, however it last ended, because the index
is then going stale and members would be shown old cases without knowing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from connector.base import CRMClient
from connector.errors import CRMError
from portal_extensions.casework.wording import council_time
from portal_extensions.store.database import Store
from portal_extensions.store.health import HealthCheck
from portal_extensions.store.outbox import OutboxState
from portal_extensions.store.status import StoreStatus, read_status

STALE_AFTER_INTERVALS = 3
"""A sync older than this many intervals turns Health red: one late run is not yet a fault."""


class CRMStatus(BaseModel):
    ok: bool
    checks: list[dict[str, Any]]


class StatusReport(StoreStatus):
    crm: CRMStatus | None

    def lines(self) -> list[str]:
        """The human-readable form, one fact a line."""
        sync = self.sync
        out = [
            f"database        {self.database} (schema {self.schema_revision or 'not migrated'})",
            f"index           {self.index_size} cases ({self.removed_cases} removed in the CRM)",
            f"last sync       {_when(sync.last_finished_at)}"
            + (
                f", {sync.last_count} cases in {sync.last_seconds:.1f} s"
                if sync.last_seconds
                else ""
            ),
            f"watermark       {_when(sync.watermark)}",
            f"last full sync  {_when(sync.last_full_at)}"
            + (" (one is in progress or was interrupted)" if sync.full_sync_in_progress else ""),
        ]
        if sync.last_error:
            out.append(f"sync error      {sync.last_error}")
        if sync.open_problems:
            out.append(f"sync problems   {sync.open_problems} CRM cases could not be mapped")
        out.append("outbox          " + ", ".join(f"{k} {v}" for k, v in self.outbox.items()))
        if self.crm is None:
            out.append("CRM             not configured ([crm] in caseload.toml)")
        else:
            out.append(f"CRM             {'healthy' if self.crm.ok else 'NOT healthy'}")
            for check in self.crm.checks:
                mark = "ok  " if check.get("ok") else "FAIL"
                out.append(f"  {mark} {check.get('name')}: {check.get('detail', '')}")
        return out


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "never"


def collect_status(store: Store, client: CRMClient | None = None) -> StatusReport:
    """Gather the status report; CRM health only if a client is given (it makes calls)."""
    stored = read_status(store)
    crm = None
    if client is not None:
        health = client.health()
        crm = CRMStatus(ok=health.ok, checks=[c.model_dump() for c in health.checks])
    return StatusReport(**dict(stored), crm=crm)


def _count(number: int, unit: str) -> str:
    return f"{number} {unit}" + ("" if number == 1 else "s")


def in_words(span: timedelta) -> str:
    """A length of time as a person says it: '40 seconds', '5 minutes', '3 hours', '2 days'
    (rounded down to its largest unit)."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return _count(seconds, "second")
    if seconds < 3600:
        return _count(seconds // 60, "minute")
    if seconds < 2 * 86400:
        return _count(seconds // 3600, "hour")
    return _count(seconds // 86400, "day")


class PortalHealth:
    """`HealthSource`: the CRM (when a client is given), last sync, mapping problems, the
    outbox backlog and the index size, from the status report.

    `sync_interval` is how often the worker syncs (`[worker] sync_interval_seconds`): the last
    successful sync turns red once it is older than `STALE_AFTER_INTERVALS` of them.
    """

    def __init__(
        self,
        store: Store,
        client: CRMClient | None = None,
        *,
        sync_interval: timedelta = timedelta(seconds=300),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if sync_interval <= timedelta(0):
            raise ValueError("sync_interval must be a positive length of time")
        self.store = store
        self.client = client
        self.sync_interval = sync_interval
        self.clock = clock

    def __call__(self) -> Sequence[HealthCheck]:
        try:
            report = collect_status(self.store, self.client)
            crm_failure = None
        except CRMError as error:  # names the CRM and operation, never bodies or secrets
            report = collect_status(self.store)
            crm_failure = str(error)
        attention = report.outbox.get(OutboxState.NEEDS_ATTENTION.value, 0)
        waiting = report.outbox.get(OutboxState.QUEUED.value, 0) + report.outbox.get(
            OutboxState.SENT.value, 0
        )
        if crm_failure is not None:
            crm = HealthCheck("CRM reachable", False, crm_failure)
        elif report.crm is None:
            crm = HealthCheck(
                "CRM reachable", False, "no CRM is configured ([crm] in caseload.toml)"
            )
        else:
            details = "; ".join(
                f"{check.get('name')}: {check.get('detail', '')}".strip()
                for check in report.crm.checks
            )
            crm = HealthCheck("CRM reachable", report.crm.ok, details or "answered")
        sync = report.sync
        return [
            crm,
            self._last_sync(report),
            HealthCheck(
                "CRM cases that could not be read",
                sync.open_problems == 0,
                f"{sync.open_problems} (see `caseload status`)",
            ),
            HealthCheck(
                "Writes waiting for the CRM",
                attention == 0,
                f"{waiting} waiting, {attention} need attention",
            ),
            HealthCheck("Case index", True, f"{report.index_size} cases"),
        ]

    def _last_sync(self, report: StatusReport) -> HealthCheck:
        sync = report.sync
        name = "Last sync from the CRM"
        failed = f"; the last run failed: {sync.last_error}" if sync.last_error else ""
        if sync.last_finished_at is None:
            return HealthCheck(name, False, "no sync has finished yet" + failed)
        age = self.clock() - sync.last_finished_at
        finished = f"finished {council_time(sync.last_finished_at)}, {in_words(age)} ago"
        stale_after = self.sync_interval * STALE_AFTER_INTERVALS
        if age > stale_after:
            return HealthCheck(
                name,
                False,
                f"{finished}; a sync is due every {in_words(self.sync_interval)}, so the "
                f"index has not been brought up to date for over {in_words(stale_after)}: "
                "check that the worker is running (`caseload worker`, or `caseload serve` "
                "without --no-worker) and can reach the CRM" + failed,
            )
        return HealthCheck(name, sync.last_error is None, finished + failed)


__all__ = [
    "STALE_AFTER_INTERVALS",
    "CRMStatus",
    "PortalHealth",
    "StatusReport",
    "collect_status",
    "in_words",
]
