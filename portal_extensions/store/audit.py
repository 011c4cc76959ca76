"""The audit trail: one function writes it, nothing ever changes it.

Events are appended inside the caller's transaction, so an audited action and its audit event
commit or vanish together. The database refuses UPDATE and DELETE on the table (triggers added
by the first migration), so even a bug or a hand-typed SQL statement cannot rewrite history.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from portal_extensions.store.database import Store
from portal_extensions.store.schema import audit_events


class Outcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PortalAuditEvent:
    """Who did what, for whom, to which subject, when, and how it ended. Never case content."""

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    outcome: Outcome
    on_behalf_of: str | None = None
    #: Identifiers only (see `record_event`): what was looked up, whom it showed.
    detail: Mapping[str, Any] | None = None


class AuditEvent(BaseModel):
    """One recorded action, as read back for a case history or an export."""

    id: int
    at: datetime
    actor: str
    on_behalf_of: str | None
    action: str
    subject_type: str
    subject_id: str | None
    detail: dict[str, Any]


def record_event(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | None,
    detail: Mapping[str, Any] | None = None,
    on_behalf_of: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one event in the caller's transaction; returns its id.

    `detail` must not hold constituents' personal data beyond identifiers: audit rows outlive
    case erasure.
    """
    result = conn.execute(
        sa.insert(audit_events)
        .values(
            at=at or datetime.now(UTC),
            actor=actor,
            on_behalf_of=on_behalf_of,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            detail=dict(detail or {}),
        )
        .returning(audit_events.c.id)
    )
    return int(result.scalar_one())


def events_for(conn: sa.Connection, subject_id: str, *, limit: int = 500) -> list[AuditEvent]:
    """The events about one subject (a case's portal id, an outbox key), oldest first."""
    rows = conn.execute(
        sa.select(audit_events)
        .where(audit_events.c.subject_id == subject_id)
        .order_by(audit_events.c.id)
        .limit(limit)
    ).mappings()
    return [AuditEvent.model_validate(dict(row)) for row in rows]


class StoreAuditTrail:
    """`AuditTrail` writing to the store's append-only audit table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, event: PortalAuditEvent) -> None:
        with self.store.write() as conn:
            record_event(
                conn,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                detail={**(event.detail or {}), "outcome": event.outcome.value},
                on_behalf_of=event.on_behalf_of,
                at=event.at,
            )


__all__ = [
    "AuditEvent",
    "Outcome",
    "PortalAuditEvent",
    "StoreAuditTrail",
    "events_for",
    "record_event",
]
