"""Lagan's pinned contract: the packaged FL WSDL, its SHA-256 pin, and zeep set up to trust it.

The WSDL is loaded only if its hash matches the pin (`crm.wsdl_sha256`, else the packaged
one's), with zeep hardened beyond its defaults (no DTDs, no entities, no external documents)
and a transport that maps HTTP failures before zeep sees them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree

from connector.errors import CRMContractError
from connector.lagan.faults import KIND, status_error
from connector.resilience import map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedTransport

WSDL_DIR = Path(__file__).parent / "wsdl"
PACKAGED_WSDL = WSDL_DIR / "FLService.wsdl"
#: SHA-256 of the packaged FL WSDL; used when `crm.wsdl_sha256` is not set.
PACKAGED_WSDL_SHA256 = "5f95880e59192c5b24b89b9a6791999c24cfa81399cd750d79cee84dc7ef3fd6"
BINDING = "{http://www.lagan.com/wsdl/FLService}FLWebBinding"
#: How a SOAP answer begins: an optional XML declaration and comments, then an Envelope.
_ENVELOPE_START = re.compile(
    rb"\s*(<\?xml[^>]*\?>\s*)?(<!--.*?-->\s*)*<([\w.-]+:)?Envelope[\s>/]", re.DOTALL
)


class GuardedZeepTransport(GuardedTransport):
    """Maps HTTP-level failures before zeep sees them, so Retry-After is kept."""

    def post(self, address: str, message: bytes, headers: dict[str, str]) -> requests.Response:
        operation = ""  # filled in by LaganClient._zeep, which knows the operation
        try:
            resp: requests.Response = super().post(address, message, headers)
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
        err = status_error(resp, operation)
        if err is not None:
            raise err
        if not _ENVELOPE_START.match(resp.content[:4096]):
            empty = not resp.content.strip()
            raise CRMContractError(
                "the answer is an empty body, not SOAP" if empty else "the answer is not SOAP",
                crm=KIND,
                operation=operation,
                status=resp.status_code,
                advice="Check crm.endpoint: it should be the FL service URL "
                "(https://HOST/lagan/services/FL), reached without a login page in between.",
            )
        return resp


class TextLimit:
    """zeep ingress plugin: refuse oversized text nodes on the zeep path too."""

    def __init__(self, max_text: int) -> None:
        self.max_text = max_text

    def ingress(self, envelope: etree._Element, http_headers: Any, operation: Any) -> Any:
        for node in envelope.iter():
            if len(node.text or "") > self.max_text:
                raise CRMContractError(f"a text node exceeds the {self.max_text}-character limit")
        return envelope, http_headers

    def egress(self, envelope: Any, http_headers: Any, operation: Any, binding_options: Any) -> Any:
        return envelope, http_headers


def load_pinned_wsdl(path: Path, expected_sha256: str) -> bytes:
    """The WSDL bytes, if and only if their SHA-256 matches the pin."""
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    if digest != expected_sha256.lower():
        raise CRMContractError(
            f"WSDL {path.name} has SHA-256 {digest[:12]}..., not the pinned "
            f"{expected_sha256[:12]}...",
            crm=KIND,
            operation="wsdl",
            advice="Set crm.wsdl_sha256 to the hash of the WSDL you have reviewed.",
        )
    return content


def zeep_settings(strict: bool = True) -> zeep.Settings:
    """zeep settings that forbid what zeep allows by default (DTDs, entities, huge trees)."""
    return zeep.Settings(
        strict=strict,
        forbid_dtd=True,
        forbid_entities=True,
        forbid_external=True,
        xml_huge_tree=False,
    )


def zeep_to_raw(value: Any, xsd_type: Any) -> Any:
    """A zeep object as the raw-record dict the lxml path gives (XSD-canonical text values)."""
    elements = getattr(xsd_type, "elements", None)
    if isinstance(value, list) and elements and len(elements) == 1:
        # zeep unwraps a list wrapper with one repeated child (FWT...List) into a plain list.
        name, element = elements[0]
        return {name: [zeep_to_raw(item, element.type) for item in value]} if value else ""
    if not elements:
        if value is None:
            return ""
        render = getattr(xsd_type, "xmlvalue", None)
        return render(value) if render is not None and not isinstance(value, str) else str(value)
    out: dict[str, Any] = {}
    for name, element in elements:
        child = value[name] if isinstance(value, dict) else getattr(value, name, None)
        if child is None:
            # zeep reads an empty element as None; a required leaf was there, so it was "".
            required = getattr(element, "min_occurs", 0) >= 1
            if required and not getattr(element.type, "elements", None):
                out[name] = ""
            continue
        max_occurs = getattr(element, "max_occurs", 1)
        if max_occurs == "unbounded" or (isinstance(max_occurs, int) and max_occurs > 1):
            if not child:
                continue
            out[name] = [zeep_to_raw(item, element.type) for item in child]
        else:
            out[name] = zeep_to_raw(child, element.type)
    return out or ""


def wsdl_hash_probe(settings: CRMSettings) -> Mapping[str, Callable[[], str]]:
    """Lagan's own `caseload crm check` probe: does the WSDL in use match its pin?"""

    def probe() -> str:
        path = settings.wsdl_path or PACKAGED_WSDL
        pin = settings.wsdl_sha256 or PACKAGED_WSDL_SHA256
        load_pinned_wsdl(path, pin)
        return f"{path.name} SHA-256 {pin[:16]}... matches the pin"

    return {"wsdl-hash": probe}


__all__ = [
    "BINDING",
    "PACKAGED_WSDL",
    "PACKAGED_WSDL_SHA256",
    "WSDL_DIR",
    "GuardedZeepTransport",
    "TextLimit",
    "load_pinned_wsdl",
    "wsdl_hash_probe",
    "zeep_settings",
    "zeep_to_raw",
]
