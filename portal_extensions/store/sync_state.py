"""The case sync's own rows: its state (watermark, full run, last outcome) and its problems.

`sync_state` holds one row per sync (`CASES_SYNC_STATE` for the case sync): where the next run
starts, whether a full run is under way, and how the last run ended. `sync_problems` lists the
CRM records that could not be mapped, one row per CRM reference, until the record maps again.
`jobs.sync.Syncer` writes both in its own transactions; `status` reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from portal_extensions.store.schema import CASES_SYNC_STATE, sync_problems, sync_state


@dataclass(frozen=True)
class MappingProblem:
    """A CRM record that could not be mapped (or was mapped without some of its items)."""

    crm_reference: str
    field: str
    message: str


def read_sync_state(conn: sa.Connection, name: str = CASES_SYNC_STATE) -> Any:
    """The sync's state row, created empty on the first call (a sync that never ran)."""
    where = sync_state.c.name == name
    row = conn.execute(sa.select(sync_state).where(where)).first()
    if row is None:
        conn.execute(sa.insert(sync_state).values(name=name))
        row = conn.execute(sa.select(sync_state).where(where)).one()
    return row


def write_sync_state(conn: sa.Connection, name: str = CASES_SYNC_STATE, **values: Any) -> None:
    """Set columns of the sync's state row (which `read_sync_state` has created)."""
    conn.execute(sa.update(sync_state).where(sync_state.c.name == name).values(**values))


def resolve_problems(conn: sa.Connection, references: Sequence[str], now: datetime) -> None:
    """Mark the open problems of these CRM records resolved: they map again."""
    if not references:
        return
    conn.execute(
        sa.update(sync_problems)
        .where(
            sync_problems.c.crm_reference.in_(references),
            sync_problems.c.resolved_at.is_(None),
        )
        .values(resolved_at=now)
    )


def save_problems(conn: sa.Connection, problems: Sequence[MappingProblem], now: datetime) -> None:
    """Record each problem, one row per CRM reference: a new one is inserted, a known one (open
    or resolved before) is updated and opened again, keeping when it was first seen."""
    if not problems:
        return
    known = set(
        conn.execute(
            sa.select(sync_problems.c.crm_reference).where(
                sync_problems.c.crm_reference.in_([p.crm_reference for p in problems])
            )
        ).scalars()
    )
    for problem in problems:
        values = {
            "field": problem.field,
            "message": problem.message,
            "last_seen_at": now,
            "resolved_at": None,
        }
        if problem.crm_reference in known:
            conn.execute(
                sa.update(sync_problems)
                .where(sync_problems.c.crm_reference == problem.crm_reference)
                .values(**values)
            )
        else:
            known.add(problem.crm_reference)
            conn.execute(
                sa.insert(sync_problems).values(
                    crm_reference=problem.crm_reference, first_seen_at=now, **values
                )
            )


__all__ = [
    "MappingProblem",
    "read_sync_state",
    "resolve_problems",
    "save_problems",
    "write_sync_state",
]
