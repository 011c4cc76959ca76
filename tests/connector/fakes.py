"""A tiny in-process Lagan FL fake for `responses`, with fault injection.

Used until (and beside) the sandbox CRM: it implements just the operations the connector's tests
drive, keyed on the first element of the SOAP Body, like the real service.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
from lxml import etree

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FL = "http://www.lagan.com/wsdl/FLTypes"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ENDPOINT = "http://127.0.0.1:8999/lagan/services/FL"
AUTH_ENDPOINT = "http://127.0.0.1:8999/lagan/services/FLAuth"


def envelope(body: str, header: str = "") -> bytes:
    head = f"<soapenv:Header>{header}</soapenv:Header>" if header else ""
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" '
        f'xmlns:fl="{FL}">{head}<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>'
    ).encode()


def fault(code: int, message: str) -> bytes:
    return envelope(
        "<soapenv:Fault><faultcode>soapenv:Server</faultcode>"
        f"<faultstring>{message}</faultstring><detail><fl:FWTException>"
        f"<ErrorMessage>{message}</ErrorMessage><ErrorCode>{code}</ErrorCode>"
        "</fl:FWTException></detail></soapenv:Fault>"
    )


def case_xml(ref: str, portal_id: str, title: str, modified: str) -> str:
    return (
        f"<fl:FWTCaseFullDetails><CoreDetails><fl:CaseReference>{ref}</fl:CaseReference>"
        f"<Status>open</Status><Opened>{modified}</Opened><RaisedByUser><UserID>svc</UserID>"
        f"</RaisedByUser><Classification><Classifier>roads</Classifier></Classification>"
        f"<Title>{title}</Title><Category>101</Category><Priority>2</Priority>"
        f"<Severity>1</Severity><WorkflowCase>false</WorkflowCase><Internal>false</Internal>"
        f"</CoreDetails><Form><FormField><Value>{portal_id}</Value><Key>PortalId</Key>"
        f"</FormField><FormName>MemberEnquiry</FormName></Form></fl:FWTCaseFullDetails>"
    )


@dataclass
class Faults:
    lose_response: float = 0.0  # commit, then the answer never arrives
    unavailable: float = 0.0  # 503 or 429 with Retry-After, nothing applied
    reset: float = 0.0  # connection reset before anything is applied
    seed: int = 7


@dataclass
class FakeLagan:
    faults: Faults = field(default_factory=Faults)
    cases: dict[str, dict[str, str]] = field(default_factory=dict)
    token: str | None = None
    token_expired: bool = False
    authentications: int = 0
    calls: dict[str, int] = field(default_factory=dict)
    injected: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.faults.seed)

    def install(self, rsps: Any) -> None:
        rsps.add_callback("POST", ENDPOINT, callback=self.handle)
        rsps.add_callback("POST", AUTH_ENDPOINT, callback=self.handle_auth)

    def _count(self, name: str, bucket: dict[str, int] | None = None) -> None:
        target = self.calls if bucket is None else bucket
        target[name] = target.get(name, 0) + 1

    def handle_auth(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.authentications += 1
            self.token = f"tok-{self.authentications}"
            self.token_expired = False
        header = (
            f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:BinarySecurityToken>{self.token}'
            "</wsse:BinarySecurityToken></wsse:Security>"
        )
        return 200, {}, envelope("", header)

    def handle(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        body = request.body if isinstance(request.body, bytes) else str(request.body).encode()
        root = etree.fromstring(body)
        body_elem = root.find(f"{{{ENV}}}Body")
        assert body_elem is not None
        op_elem = body_elem[0]
        op = etree.QName(op_elem).localname
        with self.lock:
            self._count(op)
            token = root.find(f".//{{{WSSE}}}BinarySecurityToken")
            if token is not None and (self.token_expired or token.text != self.token):
                return 500, {}, fault(1002, "session token expired; authenticate again")
            roll = self.rng.random()
            f = self.faults
            if roll < f.reset:
                self._count("reset", self.injected)
                raise requests.ConnectionError("connection reset by peer")
            if roll < f.reset + f.unavailable:
                self._count("unavailable", self.injected)
                status = 429 if self.rng.random() < 0.5 else 503
                return status, {"Retry-After": "0"}, b""
            status, headers, answer = self._dispatch(op, op_elem)
            if op == "FWTCaseCreate" and roll < f.reset + f.unavailable + f.lose_response:
                self._count("lost", self.injected)
                raise requests.ConnectionError("connection dropped after commit")
            return status, headers, answer

    def _dispatch(self, op: str, elem: etree._Element) -> tuple[int, dict[str, str], bytes]:
        if op == "FWTCaseCreate":
            ref = str(101000000001 + len(self.cases))
            fields = {f.findtext("Key"): f.findtext("Value") for f in elem.iter("FormField")}
            self.cases[ref] = {
                "portal_id": fields.get("PortalId") or "",
                "title": elem.findtext("Title") or "",
                "modified": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            return 200, {}, envelope(f"<fl:CaseReference>{ref}</fl:CaseReference>")
        if op in ("FWTCaseSearch", "FWTSearchAndRetrieveCase"):
            search = elem if op == "FWTCaseSearch" else elem[0]
            wanted = {f.findtext("Key"): f.findtext("Value") for f in search.iter("FormField")}
            hits = [
                (ref, c)
                for ref, c in self.cases.items()
                if all(k == "PortalId" and c["portal_id"] == v for k, v in wanted.items())
            ]
            if op == "FWTCaseSearch":
                items = "".join(
                    f"<CaseBriefDetails><fl:CaseReference>{ref}</fl:CaseReference>"
                    "</CaseBriefDetails>"
                    for ref, _ in hits
                )
                return (
                    200,
                    {},
                    envelope(f"<fl:FWTCaseBriefDetailsList>{items}</fl:FWTCaseBriefDetailsList>"),
                )
            items = "".join(case_xml(r, c["portal_id"], c["title"], c["modified"]) for r, c in hits)
            return (
                200,
                {},
                envelope(f"<fl:FWTCaseFullDetailsList>{items}</fl:FWTCaseFullDetailsList>"),
            )
        if op == "FWTCaseFullDetailsRequest":
            ref = elem.findtext(f"{{{FL}}}CaseReference") or ""
            if ref not in self.cases:
                return 500, {}, fault(1004, "case not found")
            c = self.cases[ref]
            return 200, {}, envelope(case_xml(ref, c["portal_id"], c["title"], c["modified"]))
        return 500, {}, fault(1003, f"unknown operation {op}")
