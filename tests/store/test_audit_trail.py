"""The portal's audit events in the store's append-only trail, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from portal_extensions.store import Store, events_for
from portal_extensions.store.audit import Outcome, PortalAuditEvent, StoreAuditTrail


def test_store_audit_records_outcome_without_content(store: Store) -> None:
    StoreAuditTrail(store).record(
        PortalAuditEvent(
            at=datetime(2026, 6, 15, tzinfo=UTC),
            actor="bob",
            action="view_case",
            subject_type="case",
            subject_id="x-1",
            outcome=Outcome.REFUSED,
            on_behalf_of="alice",
        )
    )
    with store.read() as conn:
        [event] = events_for(conn, "x-1")
    assert (event.actor, event.action, event.on_behalf_of) == ("bob", "view_case", "alice")
    assert event.detail == {"outcome": "refused"}
    assert event.at == datetime(2026, 6, 15, tzinfo=UTC)
