"""Shared test helpers: zeep clients for each auth style against a sandbox handle."""

from __future__ import annotations

from typing import Any

import requests
import zeep
import zeep.transports
import zeep.wsse.username
from lxml import etree
from zeep import Plugin, Settings

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.soap import WSSE

# zeep ships no type hints for these; typed as Any so strict mypy accepts the calls.
Client: Any = zeep.Client
Transport: Any = zeep.transports.Transport
UsernameToken: Any = zeep.wsse.username.UsernameToken
SETTINGS = Settings(strict=True, forbid_dtd=True, forbid_entities=True)


class Capture(Plugin):
    """Keeps every envelope the server answered with, to validate against the schema."""

    def __init__(self) -> None:
        self.received: list[etree._Element] = []

    def ingress(self, envelope: Any, http_headers: Any, operation: Any) -> Any:
        self.received.append(envelope)
        return envelope, http_headers


class BinaryToken:
    """zeep `wsse` object sending the FLAuth BinarySecurityToken on every call."""

    def __init__(self, token: str) -> None:
        self.token = token

    def apply(self, envelope: Any, headers: Any) -> Any:
        header = envelope.find("{http://schemas.xmlsoap.org/soap/envelope/}Header")
        if header is None:
            header = etree.Element("{http://schemas.xmlsoap.org/soap/envelope/}Header")
            envelope.insert(0, header)
        sec = etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE})
        etree.SubElement(sec, f"{{{WSSE}}}BinarySecurityToken").text = self.token
        return envelope, headers

    def verify(self, envelope: Any) -> None:
        return None


def flauth_token(crm: SandboxHandle, capture: Capture | None = None) -> str:
    """Call FLAuth authenticate with zeep and return the token from the response header."""
    capture = capture or Capture()
    client = Client(
        crm.flauth_wsdl_url,
        settings=SETTINGS,
        wsse=UsernameToken(crm.username, crm.password),
        plugins=[capture],
    )
    assert client.service.authenticate() is None
    token = capture.received[-1].findtext(f".//{{{WSSE}}}BinarySecurityToken")
    assert token
    return str(token)


def fl_client(crm: SandboxHandle, style: str, capture: Capture | None = None) -> Client:
    """A strict zeep client on the served FL WSDL, authenticating with `style`."""
    session = requests.Session()
    plugins = [capture] if capture else []
    wsse: Any = None
    if style == "wsse":
        wsse = UsernameToken(crm.username, crm.password)
    elif style == "basic":
        session.auth = (crm.username, crm.password)
    elif style == "token":
        wsse = BinaryToken(flauth_token(crm))
    elif style != "none":
        raise ValueError(style)
    return Client(
        crm.fl_wsdl_url,
        settings=SETTINGS,
        transport=Transport(session=session, timeout=10, operation_timeout=10),
        wsse=wsse,
        plugins=plugins,
    )


def soap_post(crm: SandboxHandle, body: bytes, service: str = "FL", **kw: Any) -> requests.Response:
    url = crm.fl_url if service == "FL" else crm.flauth_url
    return requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "http://www.lagan.com/wsdl/FLService",
        },
        timeout=10,
        **kw,
    )


def envelope(body_xml: str, header_xml: str = "") -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:fl="http://www.lagan.com/wsdl/FLTypes">'
        f"<soapenv:Header>{header_xml}</soapenv:Header><soapenv:Body>{body_xml}</soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def wsse_header(user: str, password: str) -> str:
    return (
        f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{user}'
        f"</wsse:Username><wsse:Password>{password}</wsse:Password></wsse:UsernameToken>"
        "</wsse:Security>"
    )


def fault_of(response: requests.Response) -> dict[str, str]:
    """ErrorMessage / ErrorCode / AdditionalInfo of a SOAP fault response."""
    root = etree.fromstring(response.content)
    exc = root.find(".//{http://www.lagan.com/wsdl/FLTypes}FWTException")
    assert exc is not None, response.text
    return {child.tag: child.text or "" for child in exc}
