"""`caseload status`: what an administrator checks first (index, sync, outbox, CRM health)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from connector.base import CRMClient
from portal_extensions.outbox import backlog
from portal_extensions.store.cases import count_cases
from portal_extensions.store.database import Store
from portal_extensions.store.engine import current_revision
from portal_extensions.store.schema import cases, sync_problems, sync_state
from portal_extensions.sync import STATE_NAME


class SyncStatus(BaseModel):
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_full_at: datetime | None = None
    watermark: datetime | None = None
    last_count: int | None = None
    last_seconds: float | None = None
    last_error: str | None = None
    full_sync_in_progress: bool = False
    open_problems: int = 0


class CRMStatus(BaseModel):
    ok: bool
    checks: list[dict[str, Any]]


class StatusReport(BaseModel):
    database: str
    schema_revision: str | None
    index_size: int
    removed_cases: int
    sync: SyncStatus
    outbox: dict[str, int]
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
    with store.read() as conn:
        row = conn.execute(sa.select(sync_state).where(sync_state.c.name == STATE_NAME)).first()
        problems = conn.execute(
            sa.select(sa.func.count())
            .select_from(sync_problems)
            .where(sync_problems.c.resolved_at.is_(None))
        ).scalar_one()
        removed = conn.execute(
            sa.select(sa.func.count()).select_from(cases).where(cases.c.removed_at.is_not(None))
        ).scalar_one()
        size = count_cases(conn)
        queue = backlog(conn)
    sync = SyncStatus(open_problems=int(problems))
    if row is not None:
        sync = SyncStatus(
            last_started_at=row.last_started_at,
            last_finished_at=row.last_finished_at,
            last_full_at=row.last_full_at,
            watermark=row.watermark,
            last_count=row.last_count,
            last_seconds=row.last_seconds,
            last_error=row.last_error,
            full_sync_in_progress=row.full_run_id is not None,
            open_problems=int(problems),
        )
    crm = None
    if client is not None:
        health = client.health()
        crm = CRMStatus(ok=health.ok, checks=[c.model_dump() for c in health.checks])
    return StatusReport(
        database=store.engine.url.render_as_string(hide_password=True),
        schema_revision=current_revision(store.engine),
        index_size=size,
        removed_cases=int(removed),
        sync=sync,
        outbox=queue,
        crm=crm,
    )


__all__ = ["CRMStatus", "StatusReport", "SyncStatus", "collect_status"]
