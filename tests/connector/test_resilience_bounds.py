"""The limits of the retry policy, each in a test that fails if the limit is gone: the time
budget ends retries by itself, a finished call leaves no watchdog thread behind, a connect
timeout is labelled as one (so a write is retried), and every form of Retry-After is read."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses
import tenacity

from connector.errors import CRMTimeout, CRMUnavailable
from connector.residency import HostAllowlist
from connector.resilience import CRMCircuitOpen, Resilience, map_transport_error, parse_retry_after
from connector.transport import GuardedSession
from tests.connector.conftest import DV_BASE, DV_TOKEN, dv_discovery


def test_the_budget_ends_retries_long_before_the_attempts_or_the_breaker() -> None:
    budget, step = 0.3, 0.05
    policy = Resilience(
        crm="lagan",
        attempts=1000,
        budget=budget,
        deadline=3.0,
        breaker_fail_max=1000,
        wait=tenacity.wait_fixed(step),
        sleep=time.sleep,
    )
    calls: list[int] = []

    def down(attempt: int) -> None:
        calls.append(attempt)
        raise CRMUnavailable("down", status=503)

    started = time.monotonic()
    with pytest.raises(CRMUnavailable) as info:
        policy.call("createCase", down, idempotent=False)
    elapsed = time.monotonic() - started
    assert not isinstance(info.value, CRMCircuitOpen)  # the breaker never tripped
    assert policy.breaker.current_state == "closed"
    assert policy.breaker.fail_counter == len(calls)
    assert 3 <= len(calls) <= budget / step + 1  # about six tries fit in the budget
    assert elapsed < budget + 0.2  # stopped by the budget, not the deadline (3 s)


def _watchdogs() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if isinstance(t, threading.Timer) and t.is_alive()]


def _settled_watchdogs(before: int) -> int:
    """Live watchdog threads beyond `before`, once cancelled ones have had time to exit."""
    for _ in range(50):
        extra = len(_watchdogs()) - before
        if extra <= 0:
            return 0
        time.sleep(0.02)
    return extra


def test_finished_calls_leave_no_watchdog_thread_alive() -> None:
    policy = Resilience(crm="lagan", deadline=60.0)
    before = len(_watchdogs())
    for _ in range(100):
        assert policy.call("retrieveCaseDetails", lambda attempt: "ok", idempotent=True) == "ok"
    with pytest.raises(CRMUnavailable):
        policy.call("op", _raise_unavailable, idempotent=False)
    assert _settled_watchdogs(before) == 0


def _raise_unavailable(attempt: int) -> None:
    raise CRMUnavailable("ambiguous", ambiguous=True)


def test_finished_http_calls_leave_no_watchdog_thread_alive(make_dataverse) -> None:
    client = make_dataverse(resilience=Resilience(crm="dynamics365", deadline=60.0))
    before = len(_watchdogs())
    with responses.RequestsMock() as rsps:
        dv_discovery(rsps)
        rsps.post(DV_TOKEN, json={"access_token": "t", "expires_in": 3600})
        rsps.get(f"{DV_BASE}contacts", json={"value": []})
        for _ in range(50):
            assert client.search_parties(name="Smith") == []
    assert _settled_watchdogs(before) == 0


# ----------------------------------------------------------------------------- connect timeouts


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A listening port whose accept queue is full: new connections wait for ever (the kernel
    drops their SYNs), so connecting times out - with nothing sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


def _write_through(session: GuardedSession, url: str) -> tuple[list[int], CRMUnavailable]:
    calls: list[int] = []
    policy = Resilience(crm="lagan", attempts=3, deadline=10.0, wait=tenacity.wait_none())

    def write(attempt: int) -> None:
        calls.append(attempt)
        try:
            session.post(url, data=b"<envelope/>")
        except requests.RequestException as exc:
            raise map_transport_error(exc, crm="lagan", operation="createCase") from None

    with pytest.raises(CRMUnavailable) as info:
        policy.call("createCase", write, idempotent=False)
    return calls, info.value


def test_a_connect_timeout_is_a_connect_failure_so_a_write_is_retried(full_backlog) -> None:
    session = GuardedSession(
        HostAllowlist(["127.0.0.1"], crm="lagan"), connect_timeout=0.2, read_timeout=5
    )
    calls, error = _write_through(session, f"http://127.0.0.1:{full_backlog}/lagan/services/FL")
    assert calls == [1, 2, 3]  # nothing was sent, so the write was tried again
    assert not isinstance(error, CRMTimeout) and not error.ambiguous
    assert "connecting timed out" in error.message


def test_a_pinned_connection_times_out_as_a_connect_failure_too(full_backlog, monkeypatch) -> None:
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if address[0] == "198.51.100.7":  # the checked address of the council's CRM
            return real_connect(self, ("127.0.0.1", full_backlog))
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    allowlist = HostAllowlist(
        ["crm.council.test"], crm="lagan", resolver=lambda host: ["198.51.100.7"]
    )
    session = GuardedSession(allowlist, connect_timeout=0.2, read_timeout=5)
    calls, error = _write_through(session, "https://crm.council.test/lagan/services/FL")
    assert calls == [1, 2, 3]
    assert not isinstance(error, CRMTimeout) and not error.ambiguous


def test_a_read_timeout_is_not_retried_for_a_write() -> None:
    """The other side of the label: once the request may have arrived, a write is not re-sent."""
    read_timeout = requests.exceptions.ReadTimeout("read timed out")
    mapped = map_transport_error(read_timeout, crm="lagan", operation="createCase")
    assert isinstance(mapped, CRMTimeout)
    connect_timeout = requests.exceptions.ConnectTimeout("connect timed out")
    mapped = map_transport_error(connect_timeout, crm="lagan", operation="createCase")
    assert isinstance(mapped, CRMUnavailable) and not isinstance(mapped, CRMTimeout)


# ----------------------------------------------------------------------------- Retry-After

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("Thu, 01 Jan 2026 12:00:30 GMT", 30.0),  # the HTTP-date of RFC 9110
        ("Thu, 01 Jan 2026 12:00:30 UTC", 30.0),
        ("Thu, 01 Jan 2026 12:00:45", 45.0),  # no zone: read as UTC (HTTP dates are GMT)
        ("Thu, 01 Jan 2026 12:01:00 -0000", 60.0),  # "-0000": UTC, zone unknown
        ("Thu, 01 Jan 2026 13:00:30 +0100", 30.0),  # an offset is honoured, not dropped
        ("Thu, 01 Jan 2026 07:00:30 -0500", 30.0),
        ("Thursday, 01-Jan-26 12:00:30 GMT", 30.0),  # RFC 850, obsolete but allowed
        ("Thu Jan  1 12:00:30 2026", 30.0),  # asctime, obsolete but allowed
        ("Thu, 01 Jan 2026 11:59:00 GMT", 0.0),  # already past: go now
    ],
)
def test_every_retry_after_form_is_read(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value", ["", "soon", "-5", "1.5", "\u0663", "\u00b2", "Mon, 01 Jan 99999 00:00:00 GMT", None]
)
def test_unreadable_retry_after_is_ignored_not_raised(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None
