"""FL authentication: the WS-Security header for each auth style, and the FLAuth token.

The FL contract knows three styles (`username_token`, `flauth` tokens from FLAuthService,
HTTP `basic`) plus `authenticateByProxy` to act as a named FL user.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from lxml import etree

from connector.errors import CRMAuthError
from connector.lagan.envelope import (
    AUTH_SOAP_ACTION,
    FLAUTH,
    PLAIN_TEXT_TYPE,
    WSSE,
    element,
)
from connector.lagan.envelope import envelope as soap_envelope
from connector.lagan.faults import KIND, checked_root
from connector.lagan.xmlraw import SOAP_ENV
from connector.resilience import map_transport_error
from connector.settings import CRMSettings
from connector.transport import GuardedSession


class SecurityHeader:
    """zeep wsse plugin that adds whatever `<wsse:Security>` the auth style needs."""

    def __init__(self, build: Callable[[], etree._Element | None]) -> None:
        self._build = build

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> Any:
        security = self._build()
        if security is not None:
            header = envelope.find(f"{{{SOAP_ENV}}}Header")
            if header is None:
                header = etree.Element(f"{{{SOAP_ENV}}}Header")
                envelope.insert(0, header)
            header.append(security)
        return envelope, headers

    def verify(self, envelope: etree._Element) -> Any:
        return envelope


class LaganAuth:
    """The three auth styles of the FL contract, plus authenticateByProxy.

    FLAuth tokens are cached and shared by every thread; an expired token is renewed once per
    expiry (`generation` stops a crowd of workers from each logging in again).
    """

    def __init__(self, settings: CRMSettings, session: GuardedSession, max_text: int) -> None:
        self.settings = settings
        self.session = session
        self.max_text = max_text
        self.mode = settings.auth_mode
        self._token: str | None = None
        self.generation = 0
        self.authentications = 0
        self._lock = threading.Lock()
        if self.mode == "basic":
            session.auth = (settings.username or "", settings.secret("password") or "")
        self.auth_url = settings.auth_endpoint or settings.endpoint.rstrip("/") + "Auth"

    def username_token(self) -> etree._Element:
        security = element("Security", ns=WSSE)
        token = etree.SubElement(security, f"{{{WSSE}}}UsernameToken")
        etree.SubElement(token, f"{{{WSSE}}}Username").text = self.settings.username or ""
        password = etree.SubElement(token, f"{{{WSSE}}}Password", Type=PLAIN_TEXT_TYPE)
        password.text = self.settings.secret("password") or ""
        return security

    def security(self) -> etree._Element | None:
        if self.mode == "username_token":
            return self.username_token()
        if self.mode == "flauth":
            security = element("Security", ns=WSSE)
            etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken").text = self.token()
            return security
        return None

    def token(self) -> str:
        with self._lock:
            if self._token is None:
                self._token = self._authenticate()
                self.generation += 1
            return self._token

    def renew(self, seen_generation: int) -> None:
        """Drop the token unless another worker already renewed it since we used it."""
        with self._lock:
            if self.generation == seen_generation:
                self._token = None

    def _authenticate(self) -> str:
        self.authentications += 1
        # authenticate has an empty body: the credentials travel in the WS-Security header.
        token = self._auth_call(None, self.username_token(), "authenticate")
        if self.settings.proxy_user:
            security = element("Security", ns=WSSE)
            etree.SubElement(security, f"{{{WSSE}}}BinarySecurityToken").text = token
            user = element("FLUser", ns=FLAUTH)
            etree.SubElement(user, "UserID").text = self.settings.proxy_user
            token = self._auth_call(user, security, "authenticateByProxy")
        return token

    def _auth_call(
        self, body: etree._Element | None, security: etree._Element, operation: str
    ) -> str:
        request = soap_envelope(body, security)
        try:
            resp = self.session.post(
                self.auth_url,
                data=etree.tostring(request, xml_declaration=True, encoding="utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": AUTH_SOAP_ACTION},
            )
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm=KIND, operation=operation) from None
        root = checked_root(resp, operation, self.max_text)
        found = root.find(f".//{{{WSSE}}}BinarySecurityToken")
        if found is None or not (found.text or "").strip():
            raise CRMAuthError("FLAuth gave no security token", crm=KIND, operation=operation)
        return (found.text or "").strip()


__all__ = ["LaganAuth", "SecurityHeader"]
