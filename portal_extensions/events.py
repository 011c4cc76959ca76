"""Case-event pushes from the CRM: authenticate, parse, refresh that one case.

Lagan can POST an XML event (root element = the event type, e.g. `PopulatedCloseCaseEvent`, in
`http://www.kana.com/lagan/schemas/casemanagement`) whenever a case changes. The event is only
a nudge: we never trust its content, we read the case afresh from the CRM through the connector
and the mapping, so a forged or stale event can at worst cause one extra read.

`handle_case_event` is framework-neutral: the web layer passes the body and the secret the
caller presented (a header such as `X-Caseload-Event-Secret`, or a `token` query parameter for
CRMs that can only be given a URL) and turns the returned `EventResponse` into HTTP.
"""

from __future__ import annotations

import hmac
import logging
import re

from lxml import etree
from pydantic import BaseModel

from connector.errors import CRMError
from connector.xmlraw import hardened_parser
from portal_extensions.store.audit import record_event
from portal_extensions.sync import Syncer

log = logging.getLogger(__name__)

EVENT_NS = "http://www.kana.com/lagan/schemas/casemanagement"
MAX_EVENT_BYTES = 256 * 1024
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
EVENT_ACTOR = "system:crm-event"


class EventResponse(BaseModel):
    """What to answer the CRM: an HTTP status and a short, data-free message."""

    status: int
    message: str
    crm_reference: str | None = None
    outcome: str | None = None


def parse_case_event(body: bytes) -> tuple[str, str]:
    """The event type and case reference of a pushed event; ValueError if it is not one."""
    if len(body) > MAX_EVENT_BYTES:
        raise ValueError(f"event is larger than {MAX_EVENT_BYTES} bytes")
    if b"<!DOCTYPE" in body[:2048].upper() or b"<!ENTITY" in body.upper():
        raise ValueError("event XML must not declare a DTD or entities")
    try:
        root = etree.fromstring(body, hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"event is not well-formed XML (line {exc.lineno})") from None
    qname = etree.QName(root)
    if qname.namespace != EVENT_NS or not qname.localname.endswith("Event"):
        raise ValueError("root element is not a case event in the Lagan case-management namespace")
    found = root.find(f"{{{EVENT_NS}}}CaseReference")
    reference = (found.text or "").strip() if found is not None else ""
    if not _REFERENCE.match(reference):
        raise ValueError("event has no usable CaseReference")
    return qname.localname, reference


def handle_case_event(
    body: bytes,
    presented_secret: str | None,
    *,
    expected_secret: str | None,
    syncer: Syncer,
) -> EventResponse:
    """Authenticate a pushed event and refresh the case it names.

    Answers 503 when no secret is configured (the endpoint is off), 401 on a wrong or missing
    secret (compared in constant time), 400 on a malformed event, 502 when the CRM could not be
    read (the CRM may push again; the next sync catches it anyway), else 200.
    """
    if not expected_secret:
        return EventResponse(
            status=503,
            message="case events are not enabled: set CASELOAD_EVENT_SECRET on the server",
        )
    if presented_secret is None or not hmac.compare_digest(
        presented_secret.encode(), expected_secret.encode()
    ):
        return EventResponse(status=401, message="missing or wrong event secret")
    try:
        event, reference = parse_case_event(body)
    except ValueError as exc:
        return EventResponse(status=400, message=str(exc))
    try:
        outcome = syncer.refresh_case(reference, actor=EVENT_ACTOR)
    except CRMError as exc:
        log.warning("case event %s for %s: CRM read failed (%s)", event, reference, exc.message)
        return EventResponse(
            status=502,
            message="the CRM could not be read; the next sync will pick the change up",
            crm_reference=reference,
        )
    with syncer.store.write() as conn:
        record_event(
            conn,
            actor=EVENT_ACTOR,
            action="crm.case_event",
            subject_type="crm_case",
            subject_id=reference,
            detail={"event": event, "outcome": outcome},
        )
    return EventResponse(status=200, message=outcome, crm_reference=reference, outcome=outcome)


__all__ = ["EVENT_NS", "EventResponse", "handle_case_event", "parse_case_event"]
