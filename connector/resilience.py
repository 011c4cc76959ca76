"""Retries, pauses, circuit breaking and deadlines: every resilience rule in one module.

- `Resilience.call` runs one CRM operation under a tenacity policy: only retryable CRM errors
  are retried (timeouts only for idempotent calls), with exponential backoff and full jitter,
  honouring Retry-After, within a maximum number of attempts and a total time budget.
- A 429 pauses every worker that shares the CRM (`PauseGate`), not only the one that was told.
- A pybreaker circuit breaker counts transport failures and answers `CRMCircuitOpen` at once
  while open.
- `Deadline`/`deadline_scope` give each call a total wall-clock deadline. requests' read timeout
  only bounds the gap between bytes, so a watchdog shuts the socket down when the deadline
  passes: a slow-drip server cannot hold a call past it (the connections of
  `connector.transport` register with the current deadline).
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import functools
import inspect
import logging
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
import requests
import tenacity
from urllib3.exceptions import MaxRetryError, NewConnectionError

from connector.base import CRMClient
from connector.errors import CRMContractError, CRMError, CRMTimeout, CRMUnavailable
from connector.settings import CRMSettings

log = logging.getLogger("connector.resilience")
T = TypeVar("T")


class CRMCircuitOpen(CRMUnavailable):
    """The breaker is open after repeated failures: fail fast instead of queueing on a dead CRM."""

    retryable = False
    default_advice = (
        "Calls to the CRM are paused after repeated failures and resume by themselves; writes "
        "stay queued. Check the CRM with `caseload crm check`."
    )


# --------------------------------------------------------------------------- deadlines


class Deadline:
    """A wall-clock limit for one call, shared by its retries' sockets and reads."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expires = time.monotonic() + seconds
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return self.expires - time.monotonic()

    def expired(self) -> bool:
        return self.fired or self.remaining() <= 0

    def register(self, sock: socket.socket) -> None:
        """A socket this call reads from: shut down when the deadline passes. The socket, not
        its connection: http.client lets go of the connection's socket as soon as an answer
        says `Connection: close`, and the body is still read from it afterwards."""
        with self._lock:
            self._sockets.append(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def start(self) -> None:
        self._timer = threading.Timer(max(self.remaining(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._sockets = []


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "crm_deadline", default=None
)


def current_deadline() -> Deadline | None:
    return _current.get()


@contextlib.contextmanager
def deadline_scope(seconds: float) -> Iterator[Deadline]:
    """Run the block under a total deadline (the tighter one wins when nested)."""
    outer = _current.get()
    if outer is not None and outer.remaining() <= seconds:
        yield outer
        return
    deadline = Deadline(seconds)
    token = _current.set(deadline)
    deadline.start()
    try:
        yield deadline
    finally:
        deadline.stop()
        _current.reset(token)


# --------------------------------------------------------------------------- Retry-After, pause


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header in either form (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class PauseGate:
    """Shared by every worker of one CRM: a 429 to one of them holds all of them back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._until = 0.0
        self._lock = threading.Lock()
        self._clock = clock

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, self._clock() + seconds)
        log.warning("crm throttled: all workers pause %.1fs", seconds)

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        while (left := self.remaining()) > 0:
            sleep(left)


# --------------------------------------------------------------------------- mapping transport


def map_transport_error(exc: Exception, *, crm: str, operation: str) -> CRMError:
    """Turn a requests/socket failure into a typed CRM error (no URL, body or headers kept)."""
    deadline = _current.get()
    if deadline is not None and deadline.expired():
        return CRMTimeout(
            f"no complete answer within the {deadline.seconds:g}s deadline",
            crm=crm,
            operation=operation,
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return CRMUnavailable("connecting timed out", crm=crm, operation=operation)
    if isinstance(exc, requests.exceptions.Timeout):
        return CRMTimeout("the CRM stopped sending (read timeout)", crm=crm, operation=operation)
    # Refused or unresolvable: nothing was sent. Anything else (a reset, a dropped answer) may
    # have happened after the CRM applied the request.
    return CRMUnavailable(
        f"connection failed ({type(exc).__name__})",
        crm=crm,
        operation=operation,
        ambiguous=not _never_sent(exc),
    )


def _never_sent(exc: BaseException) -> bool:
    pending: list[object] = [exc]
    for _ in range(8):
        if not pending:
            return False
        item = pending.pop()
        if isinstance(item, NewConnectionError):  # includes NameResolutionError
            return True
        if isinstance(item, MaxRetryError):
            pending.append(item.reason)
        elif isinstance(item, BaseException):
            pending.extend(item.args)
    return False


def error_for_status(
    status: int, *, crm: str, operation: str, retry_after: str | None, request_id: str | None
) -> CRMError | None:
    """The transport-level meaning of an HTTP status, or None if the body must decide."""
    if status in (429, 502, 503, 504):
        return CRMUnavailable(
            "the CRM is throttling" if status == 429 else "the CRM is temporarily unavailable",
            crm=crm,
            operation=operation,
            status=status,
            request_id=request_id,
            retry_after=parse_retry_after(retry_after),
            # A gateway that gave up (502/504) may have passed the request on: the CRM may have
            # applied it. 429 and 503 are the CRM itself refusing, before doing anything.
            ambiguous=status in (502, 504),
        )
    return None


# --------------------------------------------------------------------------- the boundary

#: Python's own errors for reading data of an unexpected shape (a list where the contract has
#: an object, a missing key, text that is not a number, nesting past the interpreter's limit).
SHAPE_ERRORS = (LookupError, TypeError, AttributeError, ValueError, RecursionError)


def shape_error(exc: BaseException, *, crm: str, operation: str) -> CRMContractError:
    """An answer of the wrong shape, reported as the CRM breaking its contract.

    The log names where it failed, for whoever maintains the connector, and not what: the
    exception's own text may quote the CRM's data (a constituent's name that is not a number).
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    log.warning(
        "crm answer did not fit crm=%s operation=%s error=%s at=%s",
        crm,
        operation,
        type(exc).__name__,
        where,
    )
    return CRMContractError(
        f"the CRM's answer does not fit the contract ({type(exc).__name__})",
        crm=crm,
        operation=operation,
    )


def _typed(method: Callable[..., Any], crm: str) -> Callable[..., Any]:
    name = method.__name__
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(*args, **kwargs)
            except SHAPE_ERRORS as exc:
                raise shape_error(exc, crm=crm, operation=name) from None

        return generator

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except SHAPE_ERRORS as exc:
            raise shape_error(exc, crm=crm, operation=name) from None

    return call


C = TypeVar("C", bound=type)


def crm_boundary(crm: str) -> Callable[[C], C]:
    """Class decorator for a `CRMClient`: its protocol methods raise only `CRMError`s.

    The connector's own errors pass through untouched; an answer that breaks the contract in a
    way no parser check foresaw (`SHAPE_ERRORS`) becomes a `CRMContractError` here, once for
    every operation, instead of a check at every place a client reads an answer.
    """

    def decorate(cls: C) -> C:
        for name in _PROTOCOL_METHODS:
            method = cls.__dict__.get(name)
            if inspect.isfunction(method):
                setattr(cls, name, _typed(method, crm))
        return cls

    return decorate


_PROTOCOL_METHODS = tuple(
    name
    for name, member in vars(CRMClient).items()
    if not name.startswith("_") and inspect.isfunction(member)
)


# --------------------------------------------------------------------------- the policy


def _is_transport_failure(exc: BaseException) -> bool:
    return isinstance(exc, CRMTimeout) or (
        isinstance(exc, CRMUnavailable) and not isinstance(exc, CRMCircuitOpen)
    )


@dataclass
class Resilience:
    """The retry policy, pause gate and breaker shared by every call to one CRM."""

    crm: str
    attempts: int = 5
    budget: float = 120.0
    deadline: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    breaker_fail_max: int = 5
    breaker_reset_timeout: float = 30.0
    #: Replaces the backoff (tests use `tenacity.wait_none()`); Retry-After still applies.
    wait: tenacity.wait.wait_base | None = None
    sleep: Callable[[float], None] = time.sleep
    gate: PauseGate = field(default_factory=PauseGate)
    breaker: pybreaker.CircuitBreaker = field(init=False)

    @classmethod
    def from_settings(cls, settings: CRMSettings) -> Resilience:
        """The policy configured in `[crm]` for the CRM those settings name."""
        return cls(
            crm=settings.kind,
            attempts=settings.retry_attempts,
            budget=settings.retry_budget,
            deadline=settings.deadline,
            backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max,
            breaker_fail_max=settings.breaker_fail_max,
            breaker_reset_timeout=settings.breaker_reset_timeout,
        )

    def __post_init__(self) -> None:
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=self.breaker_fail_max,
            reset_timeout=self.breaker_reset_timeout,
            exclude=[lambda exc: not _is_transport_failure(exc)],
            name=f"crm-{self.crm}",
        )
        # Full jitter: a random wait in [0, min(backoff_max, backoff_initial * 2**n)], so
        # workers that failed together do not come back together.
        self._backoff = self.wait or tenacity.wait_random_exponential(
            multiplier=self.backoff_initial, max=self.backoff_max
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        delay = float(self._backoff(state))
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, CRMError) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        if isinstance(exc, CRMError) and exc.status == 429:
            self.gate.pause(delay)
            return 0.0  # the gate holds this worker and every other one
        return delay

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        """Out of attempts, or the next try would start past the budget or the deadline."""
        if state.attempt_number >= self.attempts:
            return True
        waiting = state.upcoming_sleep + self.gate.remaining()
        if (state.seconds_since_start or 0.0) + waiting >= self.budget:
            return True
        deadline = _current.get()
        return deadline is not None and waiting >= deadline.remaining()

    def call(
        self,
        operation: str,
        fn: Callable[[int], T],
        *,
        idempotent: bool,
    ) -> T:
        """Run `fn(attempt)` (attempt counts from 1) under the policy; raise a CRMError.

        When the CRM asks for a longer wait than the deadline or budget leaves, the call ends at
        once with the CRM's error (its `retry_after` says how long): the outbox can come back
        later instead of holding a worker.
        """

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, CRMError) or not exc.retryable:
                return False
            if idempotent:
                return True
            return not isinstance(exc, CRMTimeout) and not exc.ambiguous

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            stop=self._stop,
            wait=self._wait,
            sleep=self.sleep,
            reraise=True,
        )
        # One deadline for the whole operation, retries included: the caller is promised an
        # answer (or an error) within `deadline`, whatever the CRM does.
        with deadline_scope(self.deadline) as deadline:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number > 1:
                        log.info("crm retry operation=%s attempt=%d", operation, number)
                    self._pass_gate(operation, deadline)
                    result = self._guarded(operation, fn, number)
        return result

    def _pass_gate(self, operation: str, deadline: Deadline) -> None:
        """Wait out a pause another worker was told about, unless it outlasts the deadline."""
        paused = self.gate.remaining()
        if paused >= deadline.remaining():
            raise CRMUnavailable(
                f"the CRM asked every worker to pause {paused:.0f}s, beyond this call's deadline",
                crm=self.crm,
                operation=operation,
                status=429,
                retry_after=paused,
            )
        self.gate.wait(self.sleep)
        if deadline.expired():
            raise CRMTimeout(
                f"no answer within the {deadline.seconds:g}s deadline",
                crm=self.crm,
                operation=operation,
            )

    def _guarded(self, operation: str, fn: Callable[[int], T], attempt: int) -> T:
        try:
            return self.breaker.call(fn, attempt)
        except pybreaker.CircuitBreakerError:
            raise CRMCircuitOpen(
                "circuit open after repeated failures", crm=self.crm, operation=operation
            ) from None
        except CRMError as exc:
            # Errors raised below the clients (the transport's limits, the XML parser) do not
            # know which CRM or operation they belong to; this is the one place that does.
            exc.crm = exc.crm or self.crm
            exc.operation = exc.operation or operation
            raise


__all__ = [
    "SHAPE_ERRORS",
    "CRMCircuitOpen",
    "Deadline",
    "PauseGate",
    "Resilience",
    "crm_boundary",
    "current_deadline",
    "deadline_scope",
    "error_for_status",
    "map_transport_error",
    "parse_retry_after",
    "shape_error",
]
