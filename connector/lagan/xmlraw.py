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
from typing import Any, cast

from lxml import etree

from connector.errors import CRMContractError
from connector.transport import MAX_BUFFERED_NODES

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_DOCTYPE_MARKERS = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype")


@dataclass
class Shape:
    """Schema knowledge for one element type: which children repeat, and their own shapes."""

    children: dict[str, tuple[bool, Shape]] = field(default_factory=dict)


LENIENT = Shape()  # unknown elements (later CRM builds add fields): parsed leniently
_UNDECLARED = (False, LENIENT)


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
    """One element as raw data: text for a leaf, dict for a parent, lists where declared.

    This is the hot loop of every bulk read, hence the inlined name and shape handling.
    """
    if len(elem) == 0:
        text = elem.text or ""
        if len(text) > max_text:
            raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
        return text
    out: dict[str, Any] = {}
    declared = shape.children
    for child in elem:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag[0] == "{":
            tag = tag[tag.index("}") + 1 :]
        repeatable, child_shape = declared.get(tag, _UNDECLARED)
        if len(child):
            value = element_to_raw(child, child_shape, max_text)
        else:
            value = child.text or ""
            if len(value) > max_text:
                raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
        if repeatable:
            if tag in out:
                out[tag].append(value)
            else:
                out[tag] = [value]
        elif tag in out:
            # Undeclared repetition (a newer CRM build): keep every value rather than drop one.
            existing = out[tag]
            out[tag] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[tag] = value
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


#: How many elements may pile up before the tree is swept (a sweep costs a few lxml calls, so it
#: runs about once per hundred cases, not once per case).
_FREE_AFTER = 10_000


def _free_before(elem: etree._Element) -> None:
    """Drop every complete element before `elem` (its earlier siblings, and those of each open
    ancestor): the tree then holds only the path to the next item, however the answer is laid
    out."""
    node: etree._Element | None = elem
    while node is not None and (parent := node.getparent()) is not None:
        while node.getprevious() is not None:
            del parent[0]
        node = parent


def iter_elements(
    chunks: Iterable[bytes],
    item_name: str,
    *,
    max_text: int,
    max_bytes: int | None = None,
) -> Iterator[etree._Element]:
    """Yield each `item_name` element of a SOAP response, detached from the tree, streaming.

    Converting to dicts is the costly (Python) part of a read, so callers that may discard a
    batch (a full Lagan window) keep the parsed elements and convert only what they keep.

    Only the item, Envelope and Fault elements raise events (lxml filters the rest in C).
    Raises `SoapFaultSeen` for a SOAP Fault and `CRMContractError` for hostile or malformed XML.
    """
    parser = etree.XMLPullParser(
        events=("start", "end"),
        tag=[f"{{*}}{item_name}", f"{{{SOAP_ENV}}}Envelope", f"{{{SOAP_ENV}}}Fault"],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    prolog = b""
    envelope_seen = False
    total = 0
    depth = 0
    # Elements read since the tree was last freed (`_free_before`, at the first item end after
    # `_FREE_AFTER` of them): at most what the parser holds. An endless stream of small elements
    # outside (or inside one) item stops here, not at gigabytes of tree.
    held = 0
    try:
        for chunk in chunks:
            if not chunk:
                continue
            total += len(chunk)
            if max_bytes is not None and total > max_bytes:
                raise CRMContractError(f"the answer exceeds the {max_bytes}-byte limit")
            held += chunk.count(b"<")
            if held > MAX_BUFFERED_NODES:
                raise CRMContractError(
                    f"the answer holds more than {MAX_BUFFERED_NODES} elements outside or "
                    "inside one record"
                )
            if not envelope_seen:
                # A DTD can only come before the root element, so the prolog is all we check.
                prolog += chunk
                _check_prolog(prolog)
            parser.feed(chunk)
            for event, item in parser.read_events():
                elem = cast("etree._Element", item)
                tag = elem.tag
                if tag == f"{{{SOAP_ENV}}}Envelope":
                    envelope_seen = True
                elif tag == f"{{{SOAP_ENV}}}Fault":
                    if event == "end":
                        raise SoapFaultSeen(fault_to_dict(elem, max_text))
                elif event == "start":
                    depth += 1
                else:
                    depth -= 1
                    if depth == 0:
                        parent = elem.getparent()
                        if parent is not None:
                            if held > _FREE_AFTER:
                                _free_before(elem)
                                held = 0
                            parent.remove(elem)
                        yield elem
        if total == 0:
            raise CRMContractError("the answer is an empty body, not SOAP")
        parser.close()
    except etree.XMLSyntaxError as exc:
        raise CRMContractError(
            f"the CRM's answer is not well-formed XML (line {exc.lineno})"
        ) from None
    if not envelope_seen:
        raise CRMContractError("the CRM's answer is not a SOAP envelope")


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
    if getattr(root.getroottree().docinfo, "doctype", None) or any(
        True for _ in root.iter(etree.Entity)
    ):
        raise CRMContractError("the CRM's answer contains a DTD or entity declaration; refused")
    for node in root.iter():
        if len(node.text or "") > max_text:
            raise CRMContractError(f"a text node exceeds the {max_text}-character limit")
    return root


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
