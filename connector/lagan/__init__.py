"""Lagan / Verint FL (SOAP): the client, its auth, wire format, faults and pinned WSDL.

Public parts: `LaganClient` (the `CRMClient`), `LaganAuth`, the pinned contract
(`PACKAGED_WSDL`, `PACKAGED_WSDL_SHA256`, `load_pinned_wsdl`, `zeep_to_raw`), the note key
marker (`note_marker`, `strip_note_markers`), `fault_error`, `SearchCapExceeded` (a read that
cannot be proven complete behind the server's result cap), and `parse_case_event` for the
case events Lagan pushes. Importing the package registers the kind `lagan` with
`connector.factory`.
"""

from connector.factory import register
from connector.lagan.auth import LaganAuth
from connector.lagan.client import LaganClient
from connector.lagan.contract import (
    PACKAGED_WSDL,
    PACKAGED_WSDL_SHA256,
    load_pinned_wsdl,
    wsdl_hash_probe,
    zeep_to_raw,
)
from connector.lagan.events import EVENT_NS, parse_case_event
from connector.lagan.faults import KIND, fault_error
from connector.lagan.notes import note_marker, strip_note_markers
from connector.lagan.search import SearchCapExceeded

register(
    KIND,
    builder=LaganClient,
    label="Lagan / Verint FL",
    probes=wsdl_hash_probe,
    event_parser=parse_case_event,
)

__all__ = [
    "EVENT_NS",
    "KIND",
    "PACKAGED_WSDL",
    "PACKAGED_WSDL_SHA256",
    "LaganAuth",
    "LaganClient",
    "SearchCapExceeded",
    "fault_error",
    "load_pinned_wsdl",
    "note_marker",
    "parse_case_event",
    "strip_note_markers",
    "zeep_to_raw",
]
