"""What a CRM's case-event push does to the index: re-read that one case, and audit it.

A CRM may POST an event whenever a case changes (Lagan pushes case-event XML). The push-event
route (`web/routes/crm_events.py`) checks the event's signature, reads which case it names with
the CRM's own parser (`connector.factory.case_event_parser`) and queues a refresh; the worker
(or a portal process's own `jobs.refresh.RefreshQueue`) drains the queue through
`refresh_from_event`. The event is only a nudge: its content is never trusted, the case is read
afresh from the CRM through the connector and the mapping, so a forged or stale event can at
worst cause one extra read.
"""

from __future__ import annotations

from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.audit import record_event

EVENT_ACTOR = "system:crm-event"


def refresh_from_event(syncer: Syncer, reference: str) -> str:
    """Re-read the case a CRM event named and record that in the audit trail (`crm.case_event`).

    The one home of what an event does to the index. Returns `Syncer.refresh_case`'s outcome;
    a `CRMError` (the CRM could not be read) is left to the caller, unaudited.
    """
    outcome = syncer.refresh_case(reference, actor=EVENT_ACTOR)
    with syncer.store.write() as conn:
        record_event(
            conn,
            actor=EVENT_ACTOR,
            action="crm.case_event",
            subject_type="crm_case",
            subject_id=reference,
            detail={"outcome": outcome},
        )
    return outcome


__all__ = ["EVENT_ACTOR", "refresh_from_event"]
