"""A loopback HTTP server that answers every CRM call with one hostile body, streamed.

Used by test_bounded_memory.py (the server runs in the test process; the client under test in
a child process, `python -m tests.connector.hostile_server <crm> <operation> <base>`, which
prints its outcome and peak RSS as JSON).
"""

from __future__ import annotations

import itertools
import json
import resource
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from connector.base import CRMClient

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FL = "http://www.lagan.com/wsdl/FLTypes"
_SOAP_OPEN = (
    f'<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:fl="{FL}"><soapenv:Body>'
).encode()
_CHUNK = 64 * 1024
#: The most a body may stream before the server gives up by itself (a client that never stops).
CEILING = 3 * 1024**3
_TOKEN = json.dumps({"access_token": "t", "token_type": "Bearer", "expires_in": 3600}).encode()
#: The tenant path of the identity endpoint (MSAL reads its OIDC discovery, then the token).
TENANT = "/tenant-1"


def _discovery(base: str) -> bytes:
    authority = f"{base}{TENANT}"
    return json.dumps(
        {
            "issuer": f"{authority}/v2.0",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
        }
    ).encode()


def _forever(head: bytes, unit: bytes) -> Iterator[bytes]:
    yield head
    block = unit * (_CHUNK // len(unit))
    while True:
        yield block


def _bodies(mode: str, base: str) -> Iterator[bytes]:
    """The hostile body of `mode` (`base` is the server's own URL, for next-page links)."""
    if mode == "xml-small-elements":  # a list that never ends, of elements that are not items
        return _forever(_SOAP_OPEN + b"<fl:FWTCaseFullDetailsList>", b"<x/>")
    if mode == "xml-junk-between-items":  # each item followed by a thousand stray elements
        item = b"<fl:FWTCaseFullDetails><CoreDetails><Title>a</Title></CoreDetails>"
        return _forever(_SOAP_OPEN, item + b"</fl:FWTCaseFullDetails>" + b"<x/>" * 1000)
    if mode == "xml-one-endless-item":  # one item whose children never end
        return _forever(_SOAP_OPEN + b"<fl:FWTCaseFullDetails><CoreDetails>", b"<Title>a</Title>")
    if mode == "xml-endless-text":  # a zeep answer of 2 GB and more, in text nodes of 1 KB
        return _forever(_SOAP_OPEN + b"<fl:FWTResponseStatus>", b"<a>" + b"A" * 1000 + b"</a>")
    if mode == "json-endless-page":  # a Dataverse page that never ends
        return _forever(b'{"value": [', b'{"title": "x"},')
    if mode == "json-endless-string":
        return _forever(b'{"value": [{"title": "', b"A")
    if mode == "json-deep":  # nested 200,000 deep, 400 KB
        return iter([b"[" * 200_000 + b"]" * 200_000])
    if mode == "json-self-link":  # every page links to itself
        page = {"value": [], "@odata.nextLink": f"{base}/api/data/v9.2/incidents?page=1"}
        return iter([json.dumps(page).encode()])
    raise ValueError(mode)


class HostileServer:
    """Answers the OAuth sign-in properly and everything else with `mode`'s body."""

    def __init__(self, mode: str, *, content_length: int | None = None) -> None:
        self.mode = mode
        self.content_length = content_length
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.sent = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = b""
            conn.settimeout(5)
            try:
                while b"\r\n\r\n" not in request:
                    data = conn.recv(65536)
                    if not data:
                        return
                    request += data
                line = request.split(b"\r\n", 1)[0]
                if f" {TENANT}/".encode() in line:
                    body = _TOKEN
                    if b"/.well-known/openid-configuration" in line:
                        body = _discovery(self.base)
                    conn.sendall(self._head(len(body), "application/json") + body)
                    return
                kind = "application/json" if self.mode.startswith("json") else "text/xml"
                conn.sendall(self._head(self.content_length, kind))
                for chunk in _bodies(self.mode, self.base):
                    conn.sendall(chunk)
                    self.sent += len(chunk)
                    if self.sent > CEILING or self._stop.is_set():
                        return
            except OSError:
                return  # the client hung up: what a bounded client does

    @staticmethod
    def _head(length: int | None, kind: str) -> bytes:
        size = f"Content-Length: {length}\r\n" if length is not None else ""
        return (
            f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\n{size}Connection: close\r\n\r\n"
        ).encode()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


# ----------------------------------------------------------------------------- the child side


def _client(crm: str, base: str) -> CRMClient:
    from connector.factory import build_client
    from connector.settings import CRMSettings

    if crm == "lagan":
        settings = CRMSettings(
            kind="lagan",
            endpoint=f"{base}/lagan/services/FL",
            allowed_hosts=["127.0.0.1"],
            username="caseload",
            password="secret",
            retry_attempts=1,
        )
    else:
        settings = CRMSettings(
            kind="dynamics365",
            endpoint=f"{base}/api/data/v9.2/",
            token_url=f"{base}{TENANT}/oauth2/v2.0/token",
            allowed_hosts=["127.0.0.1"],
            client_id="caseload",
            client_secret="secret",
            auth_mode="oauth2",
            retry_attempts=1,
        )
    return build_client(settings, shared=False)


def run(crm: str, operation: str, base: str) -> dict[str, object]:
    """Run one operation against the hostile server; report the outcome and peak RSS."""
    from connector.errors import CRMError

    client = _client(crm, base)
    ref = "101000000001" if crm == "lagan" else "6a4b1e0c-1d2e-4f3a-8b5c-0d1e2f3a4b5c"
    calls: dict[str, Callable[[], object]] = {
        "get_case": lambda: client.get_case(ref),
        "update_case": lambda: client.update_case(ref, {"Title": "x"}),
        "iter_changed_cases": lambda: list(
            itertools.islice(client.iter_changed_cases(datetime(2026, 1, 1, tzinfo=UTC)), 1000)
        ),
    }
    outcome: dict[str, object] = {"error": None, "message": ""}
    try:
        calls[operation]()
    except CRMError as exc:
        outcome = {"error": type(exc).__name__, "message": str(exc)}
    except BaseException as exc:  # the test reports whatever escaped
        outcome = {"error": f"untyped {type(exc).__name__}", "message": str(exc)[:200]}
    outcome["peak_mb"] = peak_rss_mb()
    return outcome


def peak_rss_mb() -> float:
    """This process image's peak resident memory in MB.

    Not `getrusage().ru_maxrss`: Linux carries the parent's high-water mark across fork and exec,
    so a child of a large pytest process reports the parent's size, not its own.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], sys.argv[2], sys.argv[3])))
