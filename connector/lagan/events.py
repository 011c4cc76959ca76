"""Case events Lagan pushes: which case changed, read from the event XML, trusting nothing else.

Lagan can POST an XML event (root element = the event type, e.g. `PopulatedCloseCaseEvent`, in
`http://www.kana.com/lagan/schemas/casemanagement`) whenever a case changes. The event is only
a nudge: the portal reads the case afresh through the connector, so only the event type and the
case reference are taken from it, and those only after the XML is parsed with no DTD, no
entities and no network.
"""

from __future__ import annotations

import re

from lxml import etree

from connector.base import CaseEvent
from connector.lagan.faults import KIND
from connector.lagan.xmlraw import hardened_parser

EVENT_NS = "http://www.kana.com/lagan/schemas/casemanagement"
MAX_EVENT_BYTES = 256 * 1024
_REFERENCE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def parse_case_event(body: bytes) -> CaseEvent:
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
    return CaseEvent(crm=KIND, event=qname.localname, reference=reference)


__all__ = ["EVENT_NS", "MAX_EVENT_BYTES", "parse_case_event"]
