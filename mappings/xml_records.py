"""Lagan SOAP/XML case records -> the raw record shape of docs/raw-records.md.

Used by `caseload mappings preview` (and anyone holding an XML case without zeep). The parser is
hardened: no DTD, no entities, no network; a document with a DOCTYPE is refused outright.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from mappings.errors import RecordFormatError

#: Elements the FL schema declares repeatable (maxOccurs > 1, or list-wrapper items): always lists.
REPEATABLE = frozenset(
    {
        "FormField",
        "Note",
        "Classifier",
        "CaseEvent",
        "CaseTask",
        "CaseEform",
        "CaseEformData",
        "EformFields",
        "InteractionDetails",
        "LinkCases",
        "NewNote",
        "CaseBriefDetails",
        "FWTCaseFullDetails",
    }
)
CASE_ELEMENT = "FWTCaseFullDetails"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _to_raw(element: etree._Element) -> Any:
    children = [child for child in element if isinstance(child.tag, str)]
    if not children:
        return element.text or ""
    record: dict[str, Any] = {}
    for child in children:
        name = _local(child.tag)
        value = _to_raw(child)
        if name in REPEATABLE:
            record.setdefault(name, []).append(value)
        elif name in record:
            existing = record[name]
            record[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            record[name] = value
    return record


def parse_lagan_xml(data: bytes) -> dict[str, Any]:
    """The first case in `data` (a SOAP envelope or a bare FWTCaseFullDetails) as a raw record."""
    if b"<!DOCTYPE" in data.upper():
        raise RecordFormatError("XML with a DOCTYPE is refused (DTDs and entities are not allowed)")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 0
        raise RecordFormatError(f"not well-formed XML at line {line}: {exc.msg}") from None
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise RecordFormatError("XML with a DOCTYPE is refused (DTDs and entities are not allowed)")
    case = root if _local(root.tag) == CASE_ELEMENT else None
    if case is None:
        case = next((el for el in root.iter() if _local(el.tag) == CASE_ELEMENT), None)
    if case is None:
        # A bare record whose root holds CoreDetails (e.g. an event payload).
        case = next((el for el in root.iter() if _local(el.tag) == "CoreDetails"), None)
        case = case.getparent() if case is not None else None
    if case is None:
        raise RecordFormatError(f"no {CASE_ELEMENT} element (and no CoreDetails) in the XML")
    raw = _to_raw(case)
    if not isinstance(raw, dict):
        raise RecordFormatError(f"{CASE_ELEMENT} is empty")
    return raw


__all__ = ["REPEATABLE", "parse_lagan_xml"]
