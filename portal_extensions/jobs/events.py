"""Case-event pushes from the CRM: authenticate, parse, refresh that one case.

A CRM may POST an event whenever a case changes (Lagan pushes case-event XML). The event is
only a nudge: we never trust its content, we read the case afresh from the CRM through the
connector and the mapping, so a forged or stale event can at worst cause one extra read. How
an event is read is the CRM's own knowledge: the connector's registry gives the parser of the
CRM the syncer reads (`connector.factory.case_event_parser`).

`handle_case_event` is framework-neutral: the web layer passes the body and the secret the
caller presented (a header such as `X-Caseload-Event-Secret`, or a `token` query parameter for
CRMs that can only be given a URL) and turns the returned `EventResponse` into HTTP.
"""

from __future__ import annotations

import hmac
import logging

from pydantic import BaseModel

from connector.errors import CRMError
from connector.factory import UnknownCRMKind, case_event_parser
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.audit import record_event

log = logging.getLogger(__name__)

EVENT_ACTOR = "system:crm-event"


class EventResponse(BaseModel):
    """What to answer the CRM: an HTTP status and a short, data-free message."""

    status: int
    message: str
    crm_reference: str | None = None
    outcome: str | None = None


def refresh_from_event(syncer: Syncer, reference: str, *, event: str | None = None) -> str:
    """Re-read the case a CRM event named and record that in the audit trail (`crm.case_event`).

    The one home of what an event does to the index, for an event answered at once
    (`handle_case_event`) or one queued for the worker. Returns `Syncer.refresh_case`'s
    outcome; a `CRMError` (the CRM could not be read) is left to the caller, unaudited.
    """
    outcome = syncer.refresh_case(reference, actor=EVENT_ACTOR)
    detail = {"outcome": outcome} if event is None else {"event": event, "outcome": outcome}
    with syncer.store.write() as conn:
        record_event(
            conn,
            actor=EVENT_ACTOR,
            action="crm.case_event",
            subject_type="crm_case",
            subject_id=reference,
            detail=detail,
        )
    return outcome


def handle_case_event(
    body: bytes,
    presented_secret: str | None,
    *,
    expected_secret: str | None,
    syncer: Syncer,
) -> EventResponse:
    """Authenticate a pushed event and refresh the case it names.

    Answers 503 when no secret is configured (the endpoint is off), 401 on a wrong or missing
    secret (compared in constant time), 404 when the CRM the syncer reads pushes no events
    Caseload can read, 400 on a malformed event, 502 when the CRM could not be read (the CRM may
    push again; the next sync catches it anyway), else 200.
    """
    if not expected_secret:
        return EventResponse(
            status=503,
            message="case events are not enabled: set CASELOAD_EVENTS_SECRET on the server",
        )
    if presented_secret is None or not hmac.compare_digest(
        presented_secret.encode(), expected_secret.encode()
    ):
        return EventResponse(status=401, message="missing or wrong event secret")
    kind = syncer.client.kind
    try:
        parse = case_event_parser(kind)
    except UnknownCRMKind:
        parse = None
    if parse is None:
        return EventResponse(
            status=404, message=f"the {kind} connector reads no pushed case events"
        )
    try:
        pushed = parse(body)
    except ValueError as exc:
        return EventResponse(status=400, message=str(exc))
    event, reference = pushed.event, pushed.reference
    try:
        outcome = refresh_from_event(syncer, reference, event=event)
    except CRMError as exc:
        log.warning("case event %s for %s: CRM read failed (%s)", event, reference, exc.message)
        return EventResponse(
            status=502,
            message="the CRM could not be read; the next sync will pick the change up",
            crm_reference=reference,
        )
    return EventResponse(status=200, message=outcome, crm_reference=reference, outcome=outcome)


__all__ = ["EVENT_ACTOR", "EventResponse", "handle_case_event", "refresh_from_event"]
