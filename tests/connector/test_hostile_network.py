"""A hostile or broken CRM on the network: redirects, DNS rebinding, slow headers, answers cut
off by the deadline, and escape codes in its error text. Real loopback servers throughout."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import responses

from connector.errors import CRMContractError, CRMError, CRMTimeout, CRMUnavailable, printable
from connector.health import run_checks
from connector.residency import HostAllowlist
from connector.resilience import map_transport_error
from connector.transport import GuardedSession
from tests.connector.conftest import DV_TOKEN, dataverse_settings, dv_discovery, fast_resilience
from tests.connector.fakes import ENDPOINT, envelope

GUID = "6a4b1e0c-1d2e-4f3a-8b5c-0d1e2f3a4b5c"
PASSWORD = "s3cret-pass"  # what conftest.lagan_settings signs in with

Handler = Callable[[socket.socket, bytes], None]


class Server:
    """A loopback server: reads each request's head (and body, by Content-Length), records it,
    and lets `handler` write whatever answer it likes."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler = handler or (lambda conn, request: None)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.requests: list[bytes] = []
        self.raw: list[bytes] = []  # first bytes of every connection, whatever they are
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
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = conn.recv(65536)
            self.raw.append(data)
            while b"\r\n\r\n" not in data:
                more = conn.recv(65536)
                if not more:
                    return
                data += more
            head, _, body = data.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            self.handler(conn, data)

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture
def servers() -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(handler: Handler | None = None) -> Server:
        made.append(Server(handler))
        return made[-1]

    yield make
    for server in made:
        server.close()


def answer(status: str, headers: dict[str, str], body: bytes = b"") -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        conn.sendall(
            f"HTTP/1.1 {status}\r\n{lines}Content-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n".encode()
            + body
        )

    return handler


def _lagan(make_lagan: Any, server: Server, **overrides: Any) -> Any:
    return make_lagan(endpoint=f"{server.base}/lagan/services/FL", **overrides)


# ----------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("target", ["other-port", "same-origin"])
@pytest.mark.parametrize("call", ["zeep-write", "streamed-read"])
def test_a_307_never_re_sends_the_soap_envelope(servers, make_lagan, target, call) -> None:
    elsewhere = servers()
    crm = servers()
    location = elsewhere.base if target == "other-port" else crm.base
    crm.handler = answer("307 Temporary Redirect", {"Location": f"{location}/lagan/services/FL"})
    client = _lagan(make_lagan, crm)
    with pytest.raises(CRMContractError, match="redirected a POST") as info:
        if call == "zeep-write":
            client.update_case("101000000001", {"Title": "x"})
        else:
            client.get_case("101000000001")
    assert info.value.status == 307
    assert len(crm.requests) == 1 and PASSWORD.encode() in crm.requests[0]
    assert elsewhere.requests == [] and elsewhere.raw == []


_TENANT = "/tenant-1"


def _token_url(server: Server) -> str:
    return f"{server.base}{_TENANT}/oauth2/v2.0/token"


def _dataverse(make_dataverse: Any, server: Server) -> Any:
    return make_dataverse(endpoint=f"{server.base}/api/data/v9.2/", token_url=_token_url(server))


def _routes(routes: dict[str, Handler]) -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        path = request.split(b" ", 2)[1].decode()
        for prefix, route in routes.items():
            if path.startswith(prefix):
                return route(conn, request)
        return answer("404 Not Found", {})(conn, request)

    return handler


_TOKEN = answer("200 OK", {"Content-Type": "application/json"}, b'{"access_token": "tok-1"}')


def _sign_in(conn: socket.socket, request: bytes) -> None:
    """The tenant's identity endpoint on this server: MSAL's OIDC discovery, then the token."""
    if b"/.well-known/openid-configuration" not in request.split(b"\r\n", 1)[0]:
        return _TOKEN(conn, request)
    host, port = conn.getsockname()[:2]
    authority = f"http://{host}:{port}{_TENANT}"
    discovery = {
        "issuer": f"{authority}/v2.0",
        "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
        "token_endpoint": f"{authority}/oauth2/v2.0/token",
    }
    headers = {"Content-Type": "application/json"}
    return answer("200 OK", headers, json.dumps(discovery).encode())(conn, request)


def test_a_get_follows_a_redirect_on_the_same_origin_only(servers, make_dataverse) -> None:
    crm = servers()
    record = b'{"incidentid": "%s", "title": "moved"}' % GUID.encode()
    crm.handler = _routes(
        {
            _TENANT: _sign_in,
            "/api/data/v9.2/incidents(": answer("302 Found", {"Location": "/api/data/v9.2/moved"}),
            "/api/data/v9.2/moved": answer("200 OK", {"Content-Type": "application/json"}, record),
        }
    )
    case = _dataverse(make_dataverse, crm).get_case(GUID)
    assert case["title"] == "moved"
    hop = crm.requests[-1]
    assert hop.startswith(b"GET /api/data/v9.2/moved") and b"Bearer tok-1" in hop


def test_a_get_redirected_to_another_port_is_refused_unsent(servers, make_dataverse) -> None:
    elsewhere = servers()
    crm = servers()
    crm.handler = _routes(
        {
            _TENANT: _sign_in,
            "/api/": answer("302 Found", {"Location": f"{elsewhere.base}/api/data/v9.2/x"}),
        }
    )
    with pytest.raises(CRMContractError, match="another origin"):
        _dataverse(make_dataverse, crm).get_case(GUID)
    assert elsewhere.raw == []


# ----------------------------------------------------------------------------- DNS rebinding


def test_the_connection_goes_to_the_address_the_allowlist_checked(servers, monkeypatch) -> None:
    """The allowlist checked crm.council.test -> 198.51.100.7; the system resolver now says
    loopback (a rebinding). The connection goes to 198.51.100.7 - here routed to a recording
    server - and the TLS hello still names crm.council.test; the loopback canary sees nothing."""
    canary = servers()
    council = servers()
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo
    dialled: list[Any] = []

    def connect(self: socket.socket, address: Any) -> Any:
        dialled.append(address)
        if address[0] == "198.51.100.7":  # the network path to the council's CRM
            return real_connect(self, ("127.0.0.1", council.port))
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "crm.council.test":  # rebound since the check
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    allowlist = HostAllowlist(
        ["crm.council.test"], crm="lagan", resolver=lambda host: ["198.51.100.7"]
    )
    session = GuardedSession(allowlist, connect_timeout=2, read_timeout=0.5)
    with pytest.raises(requests.exceptions.RequestException):  # our recorder speaks no TLS
        session.get(f"https://crm.council.test:{canary.port}/lagan/services/FL")
    assert dialled == [("198.51.100.7", canary.port)]
    assert canary.raw == []
    assert len(council.raw) == 1 and b"crm.council.test" in council.raw[0]  # TLS SNI


def test_a_name_that_did_not_resolve_is_not_sent_and_not_ambiguous() -> None:
    allowlist = HostAllowlist(["crm.council.test"], crm="lagan", resolver=lambda host: [])
    session = GuardedSession(allowlist, connect_timeout=1, read_timeout=1)
    with pytest.raises(requests.exceptions.ConnectionError) as info:
        session.post("https://crm.council.test/lagan/services/FL", data=b"x")
    mapped = map_transport_error(info.value, crm="lagan", operation="createCase")
    assert isinstance(mapped, CRMUnavailable) and not mapped.ambiguous


# ----------------------------------------------------------------------------- slow servers

DEADLINE = 1.5


def trickle(head: bytes, body: bytes = b"", *, every: float = 0.05) -> Handler:
    """Send `head` one byte at a time, then `body` one byte at a time, forever slow."""

    def handler(conn: socket.socket, request: bytes) -> None:
        for byte in itertools_bytes(head + body):
            conn.sendall(byte)
            time.sleep(every)

    return handler


def itertools_bytes(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nX-Padding: " + b"p" * 200 + b"\r\n\r\n"
_NO_LENGTH = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nConnection: close\r\n\r\n"
_SOAP_START = envelope("<fl:FWTCaseFullDetails><CoreDetails>" + "<Title>a</Title>" * 200)


def _send_head_then_trickle(kind: bytes, body: bytes) -> Handler:
    def handler(conn: socket.socket, request: bytes) -> None:
        if f" {_TENANT}/".encode() in request.split(b"\r\n", 1)[0]:
            return _sign_in(conn, request)
        conn.sendall(_NO_LENGTH % kind + body[:40])
        for byte in itertools_bytes(body[40:]):
            conn.sendall(byte)
            time.sleep(0.1)

    return handler


def _run(call: str, make_lagan: Any, make_dataverse: Any, server: Server) -> None:
    if call.startswith("dataverse"):
        client = make_dataverse(
            resilience=fast_resilience("dynamics365", deadline=DEADLINE),
            endpoint=f"{server.base}/api/data/v9.2/",
            token_url=_token_url(server),
            read_timeout=30,
        )
        client.get_case(GUID)
        return
    client = _lagan(
        make_lagan, server, resilience=fast_resilience("lagan", deadline=DEADLINE), read_timeout=30
    )
    if call == "lagan-streamed-read":
        client.get_case("101000000001")
    else:
        client.update_case("101000000001", {"Title": "x"})


CALLS = ["lagan-streamed-read", "lagan-zeep-write", "dataverse-read"]


@pytest.mark.parametrize("call", CALLS)
def test_headers_trickling_past_the_deadline_are_a_deadline_error(
    servers, make_lagan, make_dataverse, call
) -> None:
    server = servers(trickle(_HEAD))
    started = time.monotonic()
    with pytest.raises(CRMTimeout, match="deadline"):
        _run(call, make_lagan, make_dataverse, server)
    assert time.monotonic() - started < DEADLINE + 1.0


@pytest.mark.parametrize("call", CALLS)
def test_an_answer_cut_off_by_the_deadline_is_a_deadline_error_not_bad_xml(
    servers, make_lagan, make_dataverse, call
) -> None:
    """No Content-Length: when the watchdog shuts the socket, the body simply ends - it must not
    be read as a complete (and so malformed) answer."""
    if call.startswith("dataverse"):
        body = b'{"incidentid": "' + GUID.encode() + b'", "title": "' + b"x" * 400
        server = servers(_send_head_then_trickle(b"application/json", body))
    else:
        server = servers(_send_head_then_trickle(b"text/xml", _SOAP_START))
    started = time.monotonic()
    with pytest.raises(CRMTimeout, match="deadline"):
        _run(call, make_lagan, make_dataverse, server)
    assert time.monotonic() - started < DEADLINE + 1.0


# ----------------------------------------------------------------------------- terminal safety

_ESCAPES = "\x1b[2J\x1b]0;owned\x07Case \u202eclosed\x9b31m\r\n"


def test_crm_error_text_reaches_terminals_without_control_characters(make_dataverse) -> None:
    client = make_dataverse()
    error = {"error": {"code": "0x8004\x1b[0m", "message": _ESCAPES}}
    with responses.RequestsMock() as rsps:
        dv_discovery(rsps)
        rsps.post(DV_TOKEN, json={"access_token": "t", "expires_in": 3600})
        rsps.get(
            re.compile(".*incidents.*"), json=error, status=400, headers={"REQ_ID": "\x1b[1mid"}
        )
        with pytest.raises(CRMError) as info:
            client.get_case(GUID)
    text = str(info.value)
    assert "Case" in text and "closed" in text
    for control in ("\x1b", "\x07", "\u202e", "\x9b", "\r", "\n"):
        assert control not in text
        assert control not in (info.value.request_id or "") + (info.value.crm_code or "")
    assert printable(text) == text


def test_lagan_fault_text_reaches_terminals_without_control_characters(make_lagan) -> None:
    """XML cannot carry C0 controls; C1 controls and bidi overrides it can."""
    client = make_lagan()
    fault = envelope(
        "<soapenv:Fault><faultcode>soapenv:Server</faultcode>"
        "<faultstring>\x9b2JCase \u202eclosed&#x85;</faultstring></soapenv:Fault>"
    )
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=fault, status=500)
        with pytest.raises(CRMError) as info:
            client.get_case("101000000001")
    text = str(info.value)
    assert "Case" in text and "closed" in text and printable(text) == text
    assert "\x9b" not in text and "\u202e" not in text and "\x85" not in text


def test_crm_check_lines_carry_no_control_characters() -> None:
    def probe() -> None:
        raise CRMContractError(_ESCAPES, crm="dynamics365")

    settings = dataverse_settings()
    allowlist = HostAllowlist(settings.allowed_hosts, crm="dynamics365")
    report = run_checks(settings, allowlist, probe=probe, probes={"cert": lambda: _ESCAPES})
    details = " ".join(check.detail for check in report.checks)
    assert "closed" in details and "Case" in details
    assert printable(details) == details and "\x1b" not in details
