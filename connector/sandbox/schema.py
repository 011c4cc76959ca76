"""The Lagan FL schema as a small model, used to render and parse SOAP bodies.

Why not build every response by hand: the contract's element qualification is subtle (the
request root and every *global* element reached by `ref=` are namespace-qualified, all other
children are unqualified) and child order matters for schema validity. Walking the WSDL's own
XSD gets both right for every operation, and rendering straight from plain dicts keeps the store
free of XML until a response is actually sent (seeding 100k cases never touches lxml).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from lxml import etree

from connector.lagan.xmlraw import hardened_parser

XS = "http://www.w3.org/2001/XMLSchema"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
FL_TYPES = "http://www.lagan.com/wsdl/FLTypes"
FLAUTH_TYPES = "http://www.lagan.com/wsdl/FLAuthTypes"


class InvalidElement(ValueError):
    """A request element its bean does not declare (Apache Axis refuses the whole request)."""

    def __init__(self, bean: str, name: str) -> None:
        super().__init__(f"Invalid element in {bean} - {name}")
        self.bean = bean
        self.name = name


@dataclass
class Child:
    """One element particle in a sequence: enough to render, parse and validate shape."""

    name: str
    qualified: bool
    complex_type: ComplexModel | None
    min_occurs: int
    repeated: bool


@dataclass
class ComplexModel:
    """A complex type: its children in schema order."""

    name: str
    children: list[Child] = field(default_factory=list)

    @functools.cached_property
    def by_name(self) -> dict[str, Child]:
        return {c.name: c for c in self.children}


@dataclass
class GlobalElement:
    """A global element: its type is complex (a model) or simple (None)."""

    name: str
    model: ComplexModel | None


def wsdl_bytes(name: str) -> bytes:
    """Read a packaged WSDL (`FLService.wsdl` or `FLAuthService.wsdl`)."""
    return resources.files("connector.sandbox").joinpath("wsdl", name).read_bytes()


def safe_parser() -> etree.XMLParser:
    """An lxml parser that never resolves entities, loads DTDs or touches the network."""
    return hardened_parser()


class SchemaModel:
    """The types schema embedded in one WSDL, reduced to what rendering and parsing need."""

    def __init__(self, wsdl: bytes) -> None:
        root = etree.fromstring(wsdl, safe_parser())
        schema = root.find(f".//{{{XS}}}schema")
        if schema is None:
            raise ValueError("WSDL has no xs:schema in wsdl:types; cannot build the SOAP model")
        self.tns: str = schema.get("targetNamespace", "")
        self._schema_el = schema
        self.types: dict[str, ComplexModel] = {}
        self.elements: dict[str, GlobalElement] = {}
        named = {el.get("name", ""): el for el in schema.findall(f"{{{XS}}}complexType")}
        for name in named:
            self.types[name] = ComplexModel(name)
        for name, el in named.items():
            self._fill(self.types[name], el)
        global_els = schema.findall(f"{{{XS}}}element")
        for el in global_els:
            self.elements[el.get("name", "")] = GlobalElement(el.get("name", ""), None)
        for el in global_els:
            name = el.get("name", "")
            inline = el.find(f"{{{XS}}}complexType")
            if inline is not None:
                model = ComplexModel(name)
                self._fill(model, inline)
                self.elements[name].model = model
            else:
                tname = _local(el.get("type", ""))
                self.elements[name].model = self.types.get(tname)

    def _fill(self, model: ComplexModel, ct: etree._Element) -> None:
        seq = ct.find(f"{{{XS}}}sequence")
        if seq is None:
            return
        for el in seq.findall(f"{{{XS}}}element"):
            max_occurs = el.get("maxOccurs", "1")
            repeated = max_occurs == "unbounded" or int(max_occurs) > 1
            min_occurs = int(el.get("minOccurs", "1"))
            ref = el.get("ref")
            if ref is not None:
                name = _local(ref)
                # Resolved lazily: the global may not be parsed yet.
                model.children.append(_RefChild(self, name, min_occurs, repeated))
                continue
            name = el.get("name", "")
            inline = el.find(f"{{{XS}}}complexType")
            sub: ComplexModel | None
            if inline is not None:
                sub = ComplexModel(f"{model.name}.{name}")
                self._fill(sub, inline)
            else:
                sub = self.types.get(_local(el.get("type", "")))
            model.children.append(Child(name, False, sub, min_occurs, repeated))

    def xml_schema(self) -> etree.XMLSchema:
        """An lxml validator for this WSDL's types (used by tests to prove responses valid)."""
        return etree.XMLSchema(etree.fromstring(etree.tostring(self._schema_el)))

    # ---------------------------------------------------------------- rendering
    def render(self, element: str, value: Any) -> etree._Element:
        """Render global `element` from plain data (dicts, lists, str/int/bool/None)."""
        glob = self.elements[element]
        node = etree.Element(f"{{{self.tns}}}{element}", nsmap={"ns": self.tns})
        if glob.model is None:
            node.text = _text(value)
        else:
            self._render_children(node, glob.model, value)
        return node

    def _render_children(self, node: etree._Element, model: ComplexModel, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise TypeError(f"{model.name} needs a mapping, got {type(value).__name__}")
        unknown = set(value) - set(model.by_name)
        if unknown:
            raise KeyError(f"{model.name} has no element(s) {sorted(unknown)}")
        for child in model.children:
            if child.name not in value or value[child.name] is None:
                continue
            items = value[child.name]
            if not child.repeated or not isinstance(items, list):
                items = [items]
            tag = f"{{{self.tns}}}{child.name}" if child.qualified else child.name
            for item in items:
                sub = etree.SubElement(node, tag)
                if child.complex_type is not None:
                    self._render_children(sub, child.complex_type, item)
                else:
                    sub.text = _text(item)

    # ------------------------------------------------------------------ parsing
    def parse(self, node: etree._Element, *, strict: bool = False) -> dict[str, Any] | str:
        """Parse a global element into the raw-record dict shape (docs/raw-records.md).

        `strict` is Apache Axis's bean deserialiser (what FL servers run): a child element the
        schema does not declare raises `InvalidElement`. Lenient (other stacks) keeps unknown
        children as text or dicts. The namespace of a child is ignored either way.
        """
        name = _local(node.tag)
        glob = self.elements.get(name)
        return self._parse(node, glob.model if glob else None, name if strict else None)

    def _parse(
        self, node: etree._Element, model: ComplexModel | None, bean: str | None = None
    ) -> dict[str, Any] | str:
        kids = [k for k in node if isinstance(k.tag, str)]
        if not kids and (model is None or not model.children):
            return node.text or ""
        out: dict[str, Any] = {}
        for kid in kids:
            name = _local(kid.tag)
            child = model.by_name.get(name) if model else None
            if bean is not None and child is None:
                raise InvalidElement(f"lagan.api.main.{model.name if model else bean}", name)
            sub = child.complex_type if child else None
            parsed = self._parse(kid, sub, (sub.name if sub else name) if bean else None)
            if child is not None and child.repeated:
                out.setdefault(name, []).append(parsed)
            elif name in out:
                prev = out[name]
                out[name] = [*prev, parsed] if isinstance(prev, list) else [prev, parsed]
            else:
                out[name] = parsed
        return out


class _RefChild(Child):
    """A `ref=` particle: always qualified, typed by the global element it names."""

    def __init__(self, model: SchemaModel, name: str, min_occurs: int, repeated: bool) -> None:
        self._model = model
        super().__init__(name, True, None, min_occurs, repeated)

    @property
    def complex_type(self) -> ComplexModel | None:
        glob = self._model.elements.get(self.name)
        return glob.model if glob else None

    @complex_type.setter
    def complex_type(self, _value: ComplexModel | None) -> None:
        """Dataclass __init__ assigns it; the real value comes from the global element."""


def _local(qname: str) -> str:
    if qname.startswith("{"):
        return qname.split("}", 1)[1]
    return qname.split(":", 1)[-1]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


#: The FL builds the sandbox can be: the published contract, or a later build whose
#: FWTCaseSearch adds LastModifiedDateFrom/To.
FL_BUILDS = {"published": "FLService.wsdl", "later": "FLService-later.wsdl"}


@functools.cache
def fl_model(build: str = "published") -> SchemaModel:
    """The FL service schema of one build (cached: building it takes ~50 ms)."""
    return SchemaModel(wsdl_bytes(FL_BUILDS[build]))


@functools.cache
def flauth_model() -> SchemaModel:
    """The FLAuth service schema."""
    return SchemaModel(wsdl_bytes("FLAuthService.wsdl"))
