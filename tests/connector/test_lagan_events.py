"""Lagan's pushed case events: only the event type and case reference are read, safely."""

from __future__ import annotations

import pytest

from connector.base import CaseEvent
from connector.lagan import EVENT_NS, parse_case_event
from connector.lagan.events import MAX_EVENT_BYTES
from connector.sandbox.push import event_xml


def _event(root: str, reference: str = "101000000004", ns: str = EVENT_NS) -> bytes:
    return (
        f'<{root} xmlns="{ns}"><CaseReference>{reference}</CaseReference>'
        f"<Status>open</Status></{root}>"
    ).encode()


def test_the_sandboxs_pushed_event_gives_its_type_and_case_reference() -> None:
    case = {
        "ref": "101000000007",
        "status": "open",
        "opened": "2025-03-04T10:15:00Z",
        "modified": "2025-03-05T10:15:00Z",
        "closed": None,
        "title": "t",
        "form": {"MemberId": "cllr-0001"},
    }
    body = event_xml("PopulatedCloseCaseEvent", case)
    assert parse_case_event(body) == CaseEvent(
        crm="lagan", event="PopulatedCloseCaseEvent", reference="101000000007"
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (_event("PopulatedUpdateCaseEvent", ns="urn:other"), "case-management namespace"),
        (_event("PopulatedUpdateCase"), "case-management namespace"),
        (_event("PopulatedUpdateCaseEvent", reference=""), "no usable CaseReference"),
        (_event("PopulatedUpdateCaseEvent", reference="1 OR 1=1"), "no usable CaseReference"),
        (b"<PopulatedUpdateCaseEvent", "not well-formed XML"),
        (b"<!DOCTYPE x []>" + _event("PopulatedUpdateCaseEvent"), "DTD or entities"),
        (b" " * (MAX_EVENT_BYTES + 1), "larger than"),
    ],
    ids=["namespace", "not-an-event", "no-reference", "bad-reference", "xml", "dtd", "size"],
)
def test_anything_else_is_refused_with_the_reason(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_case_event(body)
