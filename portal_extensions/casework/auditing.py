"""Writing casework's audit events: who did what, for whom, to which subject, and how it ended.

Reads and refusals are audited here; an allowed change is audited by the store in the same
transaction as its outbox row (`CaseWrites`), so nothing is recorded twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from portal_extensions.access import Viewer
from portal_extensions.casework.ports import AuditTrail
from portal_extensions.store.audit import Outcome, PortalAuditEvent


def record(
    audit: AuditTrail,
    viewer: Viewer,
    now: datetime,
    action: str,
    outcome: Outcome,
    *,
    subject_type: str,
    subject_id: str | None = None,
    on_behalf_of: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """One event by `viewer`; never case content, never the words of a search. `detail`
    holds identifiers only (whom a look-up showed, a keyed fingerprint of what was asked)."""
    audit.record(
        PortalAuditEvent(
            at=now,
            actor=viewer.user_id,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            outcome=outcome,
            on_behalf_of=on_behalf_of,
            detail=detail,
        )
    )


__all__ = ["record"]
