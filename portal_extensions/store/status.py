"""What the store knows of its own state: index size, last sync, open problems, outbox backlog.

The SQL half of `caseload status` and the Health page (`casework.status` adds the CRM's own
health check to it). Read in one transaction, so the figures agree with each other.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel

from portal_extensions.store.cases import count_cases
from portal_extensions.store.database import Store
from portal_extensions.store.engine import current_revision
from portal_extensions.store.outbox import backlog
from portal_extensions.store.schema import CASES_SYNC_STATE, cases, sync_problems, sync_state


class SyncStatus(BaseModel):
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None  # the last run that finished without an error
    last_full_at: datetime | None = None
    watermark: datetime | None = None
    last_count: int | None = None
    last_seconds: float | None = None
    last_error: str | None = None  # of the last run, if it failed
    full_sync_in_progress: bool = False
    open_problems: int = 0


class StoreStatus(BaseModel):
    database: str  # the URL without its password
    schema_revision: str | None
    index_size: int
    removed_cases: int
    sync: SyncStatus
    outbox: dict[str, int]


def read_status(store: Store) -> StoreStatus:
    """The store's figures, from one read transaction."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(sync_state).where(sync_state.c.name == CASES_SYNC_STATE)
        ).first()
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
    return StoreStatus(
        database=store.engine.url.render_as_string(hide_password=True),
        schema_revision=current_revision(store.engine),
        index_size=size,
        removed_cases=int(removed),
        sync=sync,
        outbox=queue,
    )


__all__ = ["StoreStatus", "SyncStatus", "read_status"]
