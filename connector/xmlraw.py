"""Hardened, streaming XML -> raw records (docs/raw-records.md), without zeep's object layer.

The parser never loads DTDs, never resolves entities, never touches the network, keeps libxml2's
huge-tree limits and refuses any text node over a configured size. Responses are fed in chunks
(`XMLPullParser`), each record is turned into a dict as soon as its end tag arrives and then freed,
so memory stays flat however many cases a bulk read returns.

Which children are lists is taken from the WSDL's schema (`Shape`), not guessed from the data:
an element declared repeatable is a list even with one item, so `mappings/` sees one shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from connector.errors import CRMContractError

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_DOCTYPE_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype")


@dataclass
class Shape:
    """Schema knowledge for one element type: which children repeat, and their own shapes."""

    children: dict[str, tuple[bool, Shape]] = field(default_factory=dict)

    def child(self, name: str) -> tuple[bool, Shape]:
        return self.children.get(name, (False, LENIENT))


LENIENT = Shape()  # unknown elements (later CRM builds add fields): parsed leniently


def shape_from_zeep(xsd_type: Any, _memo: dict[int, Shape] | None = None) -> Shape:
    """Build a `Shape` from a zeep xsd type (walking nested and named complex types once)."""
    memo = _memo if _memo is not None else {}
    key = id(xsd_type)
    if key in memo:
        return memo[key]
    shape = Shape()
    memo[key] = shape
    for name, element in getattr(xsd_type, "elements", []) or []:
        max_occurs = getattr(element, "max_occurs", 1)
        repeatable = max_occurs == "unbounded" or (isinstance(max_occurs, int) and max_occurs > 1)
        child_type = getattr(element, "type", None)
        child_shape = (
            shape_from_zeep(child_type, memo)
            if child_type is not None and getattr(child_type, "elements", None)
            else Shape()
        )
        shape.children[name] = (repeatable, child_shape)
    return shape


def local(tag: object) -> str:
    text = tag if isinstance(tag, str) else str(tag)
    return text.rsplit("}", 1)[-1]


def element_to_raw(elem: etree._Element, shape: Shape, max_text: int) -> Any:
    """One element as raw data: text for a leaf, dict for a parent, lists where declared."""
    children = [c for c in elem if isinstance(c.tag, str)]
    if not children:
        text = elem.text or ""
        if len(text) > max_text:
            raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
        return text
    out: dict[str, Any] = {}
    for child in children:
        name = local(child.tag)
        repeatable, child_shape = shape.child(name)
        value = element_to_raw(child, child_shape, max_text)
        if repeatable:
            out.setdefault(name, []).append(value)
        elif name in out:
            # Undeclared repetition (a newer CRM build): keep every value rather than drop one.
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[name] = value
    return out


def hardened_parser() -> etree.XMLParser:
    """A one-shot parser for small responses, with the same protections as the stream."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


class SoapFaultSeen(Exception):
    """A SOAP Fault arrived instead of a result; carries its parsed fields."""

    def __init__(self, fault: dict[str, Any]) -> None:
        super().__init__("SOAP fault")
        self.fault = fault


def _check_prolog(buffer: bytes) -> None:
    if any(marker in buffer for marker in _DOCTYPE_MARKERS):
        raise CRMContractError("the CRM's answer contains a DTD or entity declaration; refused")


def iter_records(
    chunks: Iterable[bytes],
    item_name: str,
    shape: Shape,
    *,
    max_text: int,
    max_bytes: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each `item_name` element of a SOAP response as a raw dict, streaming.

    Raises `SoapFaultSeen` for a SOAP Fault and `CRMContractError` for hostile or malformed XML.
    """
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    prolog = b""
    root_seen = False
    total = 0
    depth_item = 0
    try:
        for chunk in chunks:
            if not chunk:
                continue
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise CRMContractError(f"the answer exceeds the {max_bytes}-byte limit")
            if not root_seen:
                prolog += chunk
                _check_prolog(prolog)
            parser.feed(chunk)
            for event, elem in parser.read_events():
                if event == "start":
                    root_seen = True
                    if local(elem.tag) == item_name:
                        depth_item += 1
                    continue
                name = local(elem.tag)
                if name == item_name:
                    depth_item -= 1
                    if depth_item == 0:
                        yield element_to_raw(elem, shape, max_text)
                        _free(elem)
                elif name == "Fault" and elem.tag == f"{{{SOAP_ENV}}}Fault":
                    raise SoapFaultSeen(fault_to_dict(elem, max_text))
                elif depth_item == 0 and len(elem.text or "") > max_text:
                    raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise CRMContractError(
            f"the CRM's answer is not well-formed XML (line {exc.lineno})"
        ) from None
    if not root_seen:
        raise CRMContractError("the CRM's answer was empty")


def parse_document(
    content: bytes, *, max_text: int, max_bytes: int | None = None
) -> etree._Element:
    """Parse a whole (small) response with the hardened parser; DTDs refused."""
    if max_bytes is not None and len(content) > max_bytes:
        raise CRMContractError(f"the answer exceeds the {max_bytes}-byte limit")
    try:
        root = etree.fromstring(content, parser=hardened_parser())
    except etree.XMLSyntaxError as exc:
        raise CRMContractError(
            f"the CRM's answer is not well-formed XML (line {exc.lineno})"
        ) from None
    if root.getroottree().docinfo.doctype or any(True for _ in root.iter(etree.Entity)):
        raise CRMContractError("the CRM's answer contains a DTD or entity declaration; refused")
    for node in root.iter():
        if len(node.text or "") > max_text:
            raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
    return root


def _free(elem: etree._Element) -> None:
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def fault_to_dict(elem: etree._Element, max_text: int) -> dict[str, Any]:
    """faultcode/faultstring plus the FWTException detail fields, if present."""
    out: dict[str, Any] = {}
    for child in elem.iter():
        if not isinstance(child.tag, str):
            continue
        name = local(child.tag)
        if name in ("faultcode", "faultstring", "ErrorCode", "ErrorMessage", "AdditionalInfo"):
            out[name] = (child.text or "")[:max_text].strip()
    return out
