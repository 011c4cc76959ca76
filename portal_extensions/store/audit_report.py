"""Reading the audit trail back for one case: who did what, for whom, when, and how it ended.

The audit table is written by `store.audit.record_event` from many places (the portal's page
views, the outbox, sync, CRM case events), each naming the case its own way: the portal id for
`subject_type="case"`, the CRM reference for `subject_type="crm_case"`. This module resolves a
reference a person types (either form) to both identifiers through the case index, so one
query finds every event about the case, even those recorded before the CRM gave it a reference.

Only identifiers, never case content, leave this module: an event's `detail` may hold free text
(a CRM error reason), so it is reduced to its outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from pydantic import BaseModel

from portal_extensions.store.schema import audit_events, cases

#: The subject types whose subject id names a case (by portal id or by CRM reference).
CASE_SUBJECT_TYPES = ("case", "crm_case")

#: The most events one report holds unless the caller asks for more.
DEFAULT_LIMIT = 1000


class CaseAuditEvent(BaseModel):
    """One audited action on a case, without any case content."""

    id: int
    at: datetime
    actor: str
    on_behalf_of: str | None
    action: str
    case: str  # the case's identifier as the event recorded it: portal id or CRM reference
    outcome: str | None  # allowed / refused / failed, or None where the writer kept none


class CaseAudit(BaseModel):
    """The events about one case, oldest first, and how the reference was resolved."""

    reference: str
    portal_id: str | None
    crm_reference: str | None
    in_index: bool
    events: list[CaseAuditEvent]
    truncated: bool


def _resolve(conn: sa.Connection, reference: str) -> tuple[str | None, str | None, bool]:
    """(portal id, CRM reference, found in the index) for what a person typed.

    A case that has left the index (erased) still has its audit rows: a reference shaped like
    a UUID is then taken as a portal id, anything else as a CRM reference.
    """
    row = conn.execute(
        sa.select(cases.c.portal_id, cases.c.crm_reference).where(
            sa.or_(cases.c.portal_id == reference, cases.c.crm_reference == reference)
        )
    ).first()
    if row is not None:
        return row.portal_id, row.crm_reference, True
    try:
        return str(uuid.UUID(reference)), None, False
    except ValueError:
        return None, reference, False


def _outcome(detail: object) -> str | None:
    if isinstance(detail, dict):
        value = detail.get("outcome")
        if isinstance(value, str):
            return value
    return None


def case_audit(
    conn: sa.Connection,
    reference: str,
    *,
    user: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    actions: Sequence[str] = (),
    limit: int = DEFAULT_LIMIT,
) -> CaseAudit:
    """The audit events about the case `reference` names (portal id or CRM reference).

    Filters: `user` matches the actor or the member acted for (case-insensitive); `since` and
    `until` bound the event time (inclusive, timezone-aware); each of `actions` matches an
    action exactly or as a dotted prefix (`outbox` matches `outbox.note.queued`). At most
    `limit` events are returned, oldest first; `truncated` says whether more matched.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
    reference = reference.strip()
    portal_id, crm_reference, in_index = _resolve(conn, reference)
    subjects: list[sa.ColumnElement[bool]] = []
    if portal_id is not None:
        subjects.append(
            sa.and_(audit_events.c.subject_type == "case", audit_events.c.subject_id == portal_id)
        )
    if crm_reference is not None:
        subjects.append(
            sa.and_(
                audit_events.c.subject_type.in_(CASE_SUBJECT_TYPES),
                audit_events.c.subject_id == crm_reference,
            )
        )
    query = sa.select(
        audit_events.c.id,
        audit_events.c.at,
        audit_events.c.actor,
        audit_events.c.on_behalf_of,
        audit_events.c.action,
        audit_events.c.subject_id,
        audit_events.c.detail,
    ).where(sa.or_(*subjects))
    if user:
        wanted = user.strip().lower()
        query = query.where(
            sa.or_(
                sa.func.lower(audit_events.c.actor) == wanted,
                sa.func.lower(audit_events.c.on_behalf_of) == wanted,
            )
        )
    if since is not None:
        query = query.where(audit_events.c.at >= since)
    if until is not None:
        query = query.where(audit_events.c.at <= until)
    if actions:
        query = query.where(
            sa.or_(
                *(
                    sa.or_(
                        audit_events.c.action == action,
                        audit_events.c.action.startswith(action + ".", autoescape=True),
                    )
                    for action in actions
                )
            )
        )
    rows = conn.execute(query.order_by(audit_events.c.id).limit(limit + 1)).all()
    events = [
        CaseAuditEvent(
            id=row.id,
            at=row.at,
            actor=row.actor,
            on_behalf_of=row.on_behalf_of,
            action=row.action,
            case=row.subject_id,
            outcome=_outcome(row.detail),
        )
        for row in rows[:limit]
    ]
    return CaseAudit(
        reference=reference,
        portal_id=portal_id,
        crm_reference=crm_reference,
        in_index=in_index,
        events=events,
        truncated=len(rows) > limit,
    )


__all__ = ["CASE_SUBJECT_TYPES", "DEFAULT_LIMIT", "CaseAudit", "CaseAuditEvent", "case_audit"]
