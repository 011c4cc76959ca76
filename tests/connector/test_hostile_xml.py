"""Hostile XML from a compromised or spoofed CRM: refused with a typed error, nothing leaks."""

from __future__ import annotations

import hashlib
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from connector.errors import CRMContractError, ResidencyViolation
from connector.lagan import PACKAGED_WSDL
from tests.connector.fakes import ENDPOINT, ENV, FL

SECRET = "CANARY-7f3e9b1d-do-not-leak"


class Canary:
    """A loopback listener that counts connections and would serve the secret."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.host, self.port = self.sock.getsockname()[:2]
        self.connections = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            body = SECRET.encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(1)
        self.sock.close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def _case(title: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:fl="{FL}">'
        f"<soapenv:Body><fl:FWTCaseFullDetails><CoreDetails><fl:CaseReference>1</fl:CaseReference>"
        f"<Status>open</Status><Title>{title}</Title></CoreDetails></fl:FWTCaseFullDetails>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _update_answer(value: str, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0"?>{prolog}<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:fl="{FL}">'
        f"<soapenv:Body><fl:FWTCaseUpdateResponse>{value}</fl:FWTCaseUpdateResponse>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _payloads(secret_file: Path, canary: Canary) -> dict[str, tuple[str, str]]:
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    big = "A" * 50_000
    return {
        "xxe-local-file": (
            f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "{secret_file.as_uri()}">]>',
            "&xxe;",
        ),
        "xxe-loopback-canary": (
            f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "http://{canary.host}:{canary.port}/s">]>',
            "&xxe;",
        ),
        "billion-laughs": (f"<!DOCTYPE r [{laughs}]>", "&lol9;"),
        "quadratic-blowup": (f'<!DOCTYPE r [<!ENTITY a "{big}">]>', "&a;" * 2000),
        "external-dtd": (
            f'<!DOCTYPE r SYSTEM "http://{canary.host}:{canary.port}/evil.dtd">',
            "x",
        ),
    }


@pytest.mark.parametrize(
    "attack",
    ["xxe-local-file", "xxe-loopback-canary", "billion-laughs", "quadratic-blowup", "external-dtd"],
)
@pytest.mark.parametrize("path", ["streaming", "zeep"])
def test_hostile_answers_are_refused_and_leak_nothing(
    attack, path, make_lagan, canary, secret_file, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_lagan()
    prolog, content = _payloads(secret_file, canary)[attack]
    body = _case(content, prolog) if path == "streaming" else _update_answer(content, prolog)
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=body)
        with pytest.raises(CRMContractError) as info:
            if path == "streaming":
                client.get_case("1")
            else:
                client.update_case("1", {"Title": "x"})
    assert canary.connections == 0
    out = capsys.readouterr()
    for text in (str(info.value), repr(info.value), caplog.text, out.out, out.err):
        assert SECRET not in text
    assert "lol" not in str(info.value)


@pytest.mark.parametrize("path", ["streaming", "zeep"])
def test_text_node_over_the_limit_is_refused(path, make_lagan) -> None:
    client = make_lagan(max_text_node=2048)
    huge = "B" * 5000
    body = _case(huge) if path == "streaming" else _update_answer(huge)
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=body)
        with pytest.raises(CRMContractError, match="2048"):
            if path == "streaming":
                client.get_case("1")
            else:
                client.update_case("1", {"Title": "x"})


def _wsdl_importing(tmp_path: Path, location: str) -> Path:
    original = PACKAGED_WSDL.read_text(encoding="utf-8")
    marker = '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"'
    evil = original.replace(
        marker,
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:evil">'
        f'<xs:include schemaLocation="{location}"/></xs:schema>{marker}',
        1,
    )
    assert evil != original
    path = tmp_path / "evil.wsdl"
    path.write_text(evil, encoding="utf-8")
    return path


def test_wsdl_importing_a_local_file_is_refused(make_lagan, tmp_path, secret_file) -> None:
    wsdl = _wsdl_importing(tmp_path, secret_file.as_uri())
    digest = hashlib.sha256(wsdl.read_bytes()).hexdigest()
    with pytest.raises(ResidencyViolation, match="local file system") as info:
        make_lagan(wsdl_path=wsdl, wsdl_sha256=digest)
    assert SECRET not in str(info.value)


def test_wsdl_importing_a_foreign_host_is_refused_before_connecting(make_lagan, tmp_path) -> None:
    other = Canary("127.0.0.2")
    try:
        wsdl = _wsdl_importing(tmp_path, f"http://{other.host}:{other.port}/types.xsd")
        digest = hashlib.sha256(wsdl.read_bytes()).hexdigest()
        with pytest.raises(ResidencyViolation, match="another host"):
            make_lagan(wsdl_path=wsdl, wsdl_sha256=digest)
        assert other.connections == 0
    finally:
        other.close()


def test_zeep_client_forbids_dtds_entities_external_resources_and_huge_trees(make_lagan) -> None:
    settings = make_lagan().zeep.settings
    assert settings.forbid_dtd and settings.forbid_entities and settings.forbid_external
    assert not settings.xml_huge_tree


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        "/etc/passwd",
        "types.xsd",
        "http://127.0.0.2:8999/types.xsd",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_transport_refuses_wsdl_documents_from_files_and_foreign_hosts(make_lagan, url) -> None:
    """The transport's own guard, whatever zeep's `forbid_external` does or does not cover."""
    transport = make_lagan().zeep.transport
    with pytest.raises(ResidencyViolation):
        transport.load(url)
