"""The retry policy, the shared pause gate, the circuit breaker and Retry-After parsing."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import tenacity

from connector.errors import CRMRejected, CRMTimeout, CRMUnavailable
from connector.resilience import CRMCircuitOpen, PauseGate, Resilience, parse_retry_after


def _policy(**kw) -> Resilience:
    options: dict[str, Any] = {"attempts": 4, "wait": tenacity.wait_none(), "sleep": lambda s: None}
    options.update(kw)
    return Resilience(crm="lagan", **options)


def test_retry_after_seconds_and_http_date_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retryable_errors_are_retried_until_success() -> None:
    calls = []

    def flaky(attempt: int) -> str:
        calls.append(attempt)
        if attempt < 3:
            raise CRMUnavailable("503", status=503)
        return "ok"

    assert _policy().call("op", flaky, idempotent=False) == "ok"
    assert calls == [1, 2, 3]


def test_rejections_are_never_retried() -> None:
    calls = []

    def bad(attempt: int) -> None:
        calls.append(attempt)
        raise CRMRejected("invalid")

    with pytest.raises(CRMRejected):
        _policy().call("op", bad, idempotent=True)
    assert calls == [1]


def test_timeouts_are_retried_only_for_idempotent_calls() -> None:
    calls = []

    def slow(attempt: int) -> None:
        calls.append(attempt)
        raise CRMTimeout("slow")

    with pytest.raises(CRMTimeout):
        _policy().call("op", slow, idempotent=False)
    assert calls == [1]
    calls.clear()
    with pytest.raises(CRMTimeout):
        _policy().call("op", slow, idempotent=True)
    assert calls == [1, 2, 3, 4]


def test_attempts_and_budget_bound_the_retries() -> None:
    started = time.monotonic()

    def down(attempt: int) -> None:
        raise CRMUnavailable("down")

    policy = _policy(attempts=100, budget=0.3, wait=tenacity.wait_fixed(0.05), sleep=time.sleep)
    with pytest.raises(CRMUnavailable):
        policy.call("op", down, idempotent=True)
    assert time.monotonic() - started < 1.0


def test_backoff_honours_retry_after_when_larger() -> None:
    slept: list[float] = []
    policy = Resilience(
        crm="lagan", attempts=2, backoff_initial=0.001, backoff_max=0.002, sleep=slept.append
    )

    def once(attempt: int) -> str:
        if attempt == 1:
            raise CRMUnavailable("busy", status=503, retry_after=0.5)
        return "ok"

    assert policy.call("op", once, idempotent=True) == "ok"
    assert slept and slept[0] >= 0.5


def test_429_pauses_every_worker_sharing_the_crm() -> None:
    gate = PauseGate()
    policy = _policy(gate=gate, sleep=time.sleep)
    told = threading.Event()

    def throttled(attempt: int) -> str:
        if attempt == 1:
            told.set()
            raise CRMUnavailable("429", status=429, retry_after=0.4)
        return "ok"

    worker = threading.Thread(target=lambda: policy.call("op", throttled, idempotent=True))
    worker.start()
    told.wait(1)
    time.sleep(0.05)
    assert gate.remaining() > 0.2
    started = time.monotonic()
    assert policy.call("other", lambda attempt: "done", idempotent=True) == "done"
    assert time.monotonic() - started >= 0.25  # the other worker waited too
    worker.join(2)


def test_breaker_opens_after_repeated_failures_and_answers_at_once() -> None:
    policy = _policy(attempts=1, breaker_fail_max=3, breaker_reset_timeout=60)
    calls = []

    def down(attempt: int) -> None:
        calls.append(attempt)
        raise CRMUnavailable("down")

    for _ in range(3):
        with pytest.raises(CRMUnavailable):
            policy.call("op", down, idempotent=True)
    started = time.monotonic()
    with pytest.raises(CRMCircuitOpen):
        policy.call("op", down, idempotent=True)
    assert time.monotonic() - started < 0.05
    assert len(calls) == 3


def test_rejections_do_not_open_the_breaker() -> None:
    policy = _policy(attempts=1, breaker_fail_max=2)

    def bad(attempt: int) -> None:
        raise CRMRejected("invalid")

    for _ in range(5):
        with pytest.raises(CRMRejected):
            policy.call("op", bad, idempotent=True)


def test_ambiguous_failures_are_not_retried_for_non_idempotent_calls() -> None:
    calls = []

    def dropped(attempt: int) -> None:
        calls.append(attempt)
        raise CRMUnavailable("answer lost", ambiguous=True)

    with pytest.raises(CRMUnavailable):
        _policy().call("createNotes", dropped, idempotent=False)
    assert calls == [1]
    calls.clear()
    with pytest.raises(CRMUnavailable):
        _policy().call("retrieveCaseDetails", dropped, idempotent=True)
    assert calls == [1, 2, 3, 4]


def test_connection_refused_is_not_ambiguous() -> None:
    import requests
    from urllib3.exceptions import NewConnectionError

    from connector.resilience import map_transport_error

    refused = requests.ConnectionError(NewConnectionError(None, "refused"))  # type: ignore[arg-type]
    assert not map_transport_error(refused, crm="lagan", operation="x").ambiguous
    reset = requests.ConnectionError("connection reset by peer")
    assert map_transport_error(reset, crm="lagan", operation="x").ambiguous


def test_429_without_retry_after_still_pauses_every_worker() -> None:
    pauses: list[float] = []

    class RecordingGate(PauseGate):
        def pause(self, seconds: float) -> None:
            pauses.append(seconds)
            super().pause(seconds)

    policy = _policy(
        gate=RecordingGate(), wait=tenacity.wait_fixed(0.2), attempts=2, sleep=time.sleep
    )

    def throttled(attempt: int) -> str:
        if attempt == 1:
            raise CRMUnavailable("429", status=429)
        return "ok"

    started = time.monotonic()
    assert policy.call("op", throttled, idempotent=True) == "ok"
    assert pauses == [0.2]  # the backoff became a pause of the gate every worker shares
    assert 0.2 <= time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("status", "replayed"), [(429, True), (503, True), (502, False), (504, False)]
)
def test_gateway_failures_are_not_replayed_for_non_idempotent_calls(status, replayed) -> None:
    from connector.resilience import error_for_status

    calls = []

    def failing(attempt: int) -> str:
        calls.append(attempt)
        if attempt == 1:
            err = error_for_status(
                status, crm="lagan", operation="op", retry_after="0", request_id=None
            )
            assert err is not None
            raise err
        return "ok"

    policy = _policy()
    if replayed:
        assert policy.call("createNotes", failing, idempotent=False) == "ok"
        assert calls == [1, 2]
    else:
        with pytest.raises(CRMUnavailable) as info:
            policy.call("createNotes", failing, idempotent=False)
        assert info.value.ambiguous and calls == [1]


def test_retry_after_beyond_the_deadline_ends_the_call_at_once() -> None:
    slept: list[float] = []
    policy = _policy(deadline=2.0, sleep=slept.append)
    calls = []

    def busy(attempt: int) -> None:
        calls.append(attempt)
        raise CRMUnavailable("busy", status=503, retry_after=600)

    with pytest.raises(CRMUnavailable) as info:
        policy.call("op", busy, idempotent=True)
    assert calls == [1] and slept == []
    assert info.value.retry_after == 600  # the outbox learns when to come back


def test_a_pause_longer_than_the_deadline_fails_fast_without_calling_the_crm() -> None:
    gate = PauseGate()
    gate.pause(600)
    policy = _policy(gate=gate, deadline=1.0, sleep=time.sleep)
    calls = []
    started = time.monotonic()
    with pytest.raises(CRMUnavailable) as info:
        policy.call("op", lambda attempt: calls.append(attempt), idempotent=True)
    assert time.monotonic() - started < 0.1
    assert calls == [] and info.value.status == 429
    assert info.value.retry_after is not None and info.value.retry_after > 590


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = Resilience(crm="lagan", backoff_initial=1.0, backoff_max=8.0)
    waits: dict[int, list[float]] = {}
    for attempt in (1, 2, 3, 6):
        state = tenacity.RetryCallState(tenacity.Retrying(), None, (), {})
        state.attempt_number = attempt
        waits[attempt] = [policy._wait(state) for _ in range(200)]
    for attempt, cap in ((1, 1.0), (2, 2.0), (3, 4.0), (6, 8.0)):
        assert all(0.0 <= w <= cap for w in waits[attempt])
        assert min(waits[attempt]) < cap * 0.25 < cap * 0.75 < max(waits[attempt])
