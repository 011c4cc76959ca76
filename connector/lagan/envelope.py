"""The FL SOAP wire format: namespaces, SOAP actions, and the envelopes built by hand.

Case reads and the FLAuth calls bypass zeep's object layer (see `connector.lagan.client`), so
their envelopes are built here with lxml; everything that names an FL namespace comes from here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lxml import etree

from connector.lagan.xmlraw import SOAP_ENV

FL = "http://www.lagan.com/wsdl/FLTypes"
FLAUTH = "http://www.lagan.com/wsdl/FLAuthTypes"
SOAP_ACTION = '"http://www.lagan.com/wsdl/FLService"'
AUTH_SOAP_ACTION = '"http://www.lagan.com/wsdl/FLAuthService"'
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PLAIN_TEXT_TYPE = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)


def element(tag: str, text: str | None = None, ns: str | None = None) -> etree._Element:
    """One element, namespaced when `ns` is given (FL types are unqualified below the root)."""
    elem = etree.Element(f"{{{ns}}}{tag}" if ns else tag)
    if text is not None:
        elem.text = text
    return elem


def iso(moment: datetime) -> str:
    """An xs:dateTime in UTC with a Z, as FL search criteria take it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def envelope(body_child: etree._Element | None, security: etree._Element | None) -> etree._Element:
    """A SOAP 1.1 envelope around `body_child`, with the WS-Security header if given."""
    root = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soapenv": SOAP_ENV})
    if security is not None:
        etree.SubElement(root, f"{{{SOAP_ENV}}}Header").append(security)
    body = etree.SubElement(root, f"{{{SOAP_ENV}}}Body")
    if body_child is not None:
        body.append(body_child)
    return root


__all__ = [
    "AUTH_SOAP_ACTION",
    "FL",
    "FLAUTH",
    "PLAIN_TEXT_TYPE",
    "SOAP_ACTION",
    "WSSE",
    "element",
    "envelope",
    "iso",
]
