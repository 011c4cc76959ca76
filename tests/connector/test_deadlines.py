"""A black-hole or slow-drip CRM cannot hold a call past its deadline (plus one second)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from connector.errors import CRMTimeout
from tests.connector.conftest import fast_resilience

DEADLINE = 1.5


class SlowServer:
    """Loopback server: `black-hole` accepts and says nothing; `drip` sends 1 byte a second."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        payload = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100000\r\n\r\n"
        payload += b"<" * 100000
        i = 0
        try:
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError, OSError):
                    conn.recv(65536)
                if self.mode == "drip" and i < len(payload):
                    conn.sendall(payload[i : i + 1])
                    i += 1
                    time.sleep(1.0)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


@pytest.fixture(params=["black-hole", "drip"])
def slow_server(request) -> Iterator[SlowServer]:
    server = SlowServer(request.param)
    yield server
    server.close()


def _lagan(make_lagan, port: int):
    return make_lagan(
        resilience=fast_resilience("lagan", deadline=DEADLINE),
        endpoint=f"http://127.0.0.1:{port}/lagan/services/FL",
        read_timeout=30,
    )


@pytest.mark.parametrize("call", ["streamed-read", "zeep-write", "idempotent-create"])
def test_lagan_calls_end_within_deadline(slow_server, make_lagan, call) -> None:
    client = _lagan(make_lagan, slow_server.port)
    started = time.monotonic()
    with pytest.raises(CRMTimeout):
        if call == "streamed-read":
            client.get_case("101000000001")
        elif call == "zeep-write":
            client.update_case("101000000001", {"Title": "x"})
        else:
            client.create_case({"ClassificationEventCode": 101}, "k")
    assert time.monotonic() - started < DEADLINE + 1.0


def test_dataverse_calls_end_within_deadline(slow_server, make_dataverse) -> None:
    base = f"http://127.0.0.1:{slow_server.port}"
    client = make_dataverse(
        resilience=fast_resilience("dynamics365", deadline=DEADLINE),
        endpoint=f"{base}/api/data/v9.2/",
        token_url=f"{base}/tenant-1/oauth2/v2.0/token",
        read_timeout=30,
    )
    started = time.monotonic()
    with pytest.raises(CRMTimeout):
        client.get_case("00000000-0000-0000-0000-000000000001")
    assert time.monotonic() - started < DEADLINE + 1.0


@pytest.mark.sandbox_crm(cases=5)
@pytest.mark.parametrize("fault", ["blackhole=1", "drip=1,drip_bps=1"])
def test_sandbox_server_black_hole_and_drip_end_within_deadline(sandbox_crm_server, fault):
    from connector.lagan import LaganClient
    from connector.settings import CRMSettings

    settings = CRMSettings(
        endpoint=sandbox_crm_server.fl_url,
        allowed_hosts=["127.0.0.1"],
        username=sandbox_crm_server.username,
        password=sandbox_crm_server.password,
        auth_mode="basic",
        read_timeout=30,
    )
    client = LaganClient(settings, resilience=fast_resilience("lagan", deadline=DEADLINE))
    sandbox_crm_server.set_faults(f"retrieveCaseDetails:{fault}")
    started = time.monotonic()
    try:
        with pytest.raises(CRMTimeout):
            client.get_case("101000000001")
    finally:
        client.close()
    assert time.monotonic() - started < DEADLINE + 1.0
