"""Fault injection for the sandbox: a small text spec, seeded and reproducible, every fault logged.

Spec grammar (`--faults`, or `FaultPlan.parse`)::

    spec    := rule (";" rule)*
    rule    := pattern ":" setting ("," setting)*
    pattern := operation name or glob: `createCase`, `search*`, `incidents.GET`, `*`
    setting := name "=" value

Operation names are the SOAP operation (`createCase`, `authenticate`, ...) and for REST
`<entity set>.<METHOD>` (`incidents.GET`, `incidents.PATCH`, `annotations.POST`) or `token`
for the OAuth endpoint. Serving a WSDL is never faulted. When several rules match, later rules
override earlier ones setting by setting (so `*:503=0.1;createCase:503=0` exempts createCase).

Probabilities (0..1; at most one of these fires per request, drawn in this order):
`lose_response` (the write is committed, then the connection is closed with no answer),
`reset` (TCP reset before any answer), `blackhole` (accept, never answer), `drip` (answer slowly,
`drip_bps` bytes per second, default 64), `500`, `502`, `503`, `soap_fault` (SOAP
FWTException ErrorCode 1500, HTTP 500; a plain 500 OData error on REST), `429` (with
`Retry-After`: `retry_after` seconds, default 1; `retry_after_form=date` sends an HTTP-date).
Always applied when set: `latency` (e.g. `50ms`, `1.5s`) plus a uniform random `jitter`.
Counters: `rate=N/W` (e.g. `rate=100/60s`: at most N requests per W per operation pattern, else
429 with the seconds until the window ends), `session_expiry=N` (a session token - FLAuth
BinarySecurityToken or OAuth bearer - stops working after N calls; the client must
re-authenticate).

Reproducibility: the decision for the n-th call of an operation comes from
`random.Random(f"{seed}:{operation}:{n}")`, so the same seed and the same calls per operation
give the same faults regardless of thread interleaving.
"""

from __future__ import annotations

import fnmatch
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("caseload.sandbox.faults")

PROBABILITY_FAULTS = (
    "lose_response",
    "reset",
    "blackhole",
    "drip",
    "500",
    "502",
    "503",
    "soap_fault",
    "429",
)
DURATION_SETTINGS = ("latency", "jitter")
OTHER_SETTINGS = ("drip_bps", "retry_after", "retry_after_form", "rate", "session_expiry")
KNOWN = PROBABILITY_FAULTS + DURATION_SETTINGS + OTHER_SETTINGS


class FaultSpecError(ValueError):
    """The `--faults` text is invalid; the message says which rule and what is accepted."""


@dataclass(frozen=True)
class Rule:
    pattern: str
    settings: dict[str, Any]


@dataclass
class Decision:
    """What to do to one request. `fault` is None when it passes (latency may still apply)."""

    operation: str
    call: int
    fault: str | None = None
    delay: float = 0.0
    drip_bps: int = 64
    retry_after: int = 1
    retry_after_form: str = "seconds"
    session_expiry: int | None = None


@dataclass(frozen=True)
class FaultEvent:
    operation: str
    call: int
    fault: str
    detail: str


def _duration(text: str, where: str) -> float:
    value = text.strip().lower()
    try:
        if value.endswith("ms"):
            return float(value[:-2]) / 1000
        if value.endswith("s"):
            return float(value[:-1])
        return float(value) / 1000
    except ValueError:
        raise FaultSpecError(
            f"{where}: {text!r} is not a duration; use e.g. 50ms or 1.5s (bare numbers are ms)"
        ) from None


def _parse_setting(name: str, raw: str, where: str) -> Any:
    if name in PROBABILITY_FAULTS:
        try:
            p = float(raw)
        except ValueError:
            raise FaultSpecError(f"{where}: {name}={raw!r} must be a probability 0..1") from None
        if not 0.0 <= p <= 1.0:
            raise FaultSpecError(f"{where}: {name}={raw} is outside 0..1")
        return p
    if name in DURATION_SETTINGS:
        return _duration(raw, where)
    if name in ("drip_bps", "retry_after", "session_expiry"):
        try:
            n = int(raw)
        except ValueError:
            raise FaultSpecError(f"{where}: {name}={raw!r} must be a whole number") from None
        if n < (1 if name != "retry_after" else 0):
            raise FaultSpecError(f"{where}: {name}={raw} is too small")
        return n
    if name == "retry_after_form":
        if raw not in ("seconds", "date"):
            raise FaultSpecError(f"{where}: retry_after_form must be 'seconds' or 'date'")
        return raw
    if name == "rate":
        count, _, window = raw.partition("/")
        try:
            n = int(count)
        except ValueError:
            n = 0
        if n < 1 or not window:
            raise FaultSpecError(f"{where}: rate={raw!r} must look like 100/60s")
        return (n, _duration(window, where))
    raise FaultSpecError(f"{where}: unknown setting {name!r}; known: {', '.join(KNOWN)}")


class FaultPlan:
    """Parsed rules plus the per-operation call counters, RNG seed and the fault log."""

    def __init__(self, rules: list[Rule] | None = None, seed: int = 1) -> None:
        self.rules = list(rules or [])
        self.seed = seed
        self.events: list[FaultEvent] = []
        self._calls: dict[str, int] = {}
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None, seed: int = 1) -> FaultPlan:
        """Parse the text spec (module docstring); raise FaultSpecError naming the bad part."""
        rules: list[Rule] = []
        for raw_rule in (spec or "").split(";"):
            text = raw_rule.strip()
            if not text:
                continue
            pattern, sep, body = text.partition(":")
            if not sep or not pattern.strip() or not body.strip():
                raise FaultSpecError(
                    f"fault rule {text!r} needs 'operation:setting=value[,...]', "
                    "e.g. 'createCase:lose_response=0.3'"
                )
            settings: dict[str, Any] = {}
            for item in body.split(","):
                name, eq, value = item.strip().partition("=")
                where = f"fault rule {text!r}"
                if not eq or not value.strip():
                    raise FaultSpecError(f"{where}: {item.strip()!r} needs name=value")
                settings[name.strip()] = _parse_setting(name.strip(), value.strip(), where)
            total = sum(v for k, v in settings.items() if k in PROBABILITY_FAULTS)
            if total > 1.0 + 1e-9:
                raise FaultSpecError(
                    f"fault rule {text!r}: probabilities add up to {total:.2f}, more than 1"
                )
            rules.append(Rule(pattern.strip(), settings))
        return cls(rules, seed)

    def settings_for(self, operation: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for rule in self.rules:
            if fnmatch.fnmatchcase(operation, rule.pattern):
                merged.update(rule.settings)
        return merged

    def decide(self, operation: str) -> Decision:
        """Decide the fault for the next call of `operation` and log it if one fires."""
        settings = self.settings_for(operation)
        with self._lock:
            call = self._calls.get(operation, 0) + 1
            self._calls[operation] = call
        decision = Decision(
            operation,
            call,
            drip_bps=settings.get("drip_bps", 64),
            retry_after=settings.get("retry_after", 1),
            retry_after_form=settings.get("retry_after_form", "seconds"),
            session_expiry=settings.get("session_expiry"),
        )
        if not settings:
            return decision
        rng = random.Random(f"{self.seed}:{operation}:{call}")
        draw = rng.random()
        jitter = rng.random()
        decision.delay = settings.get("latency", 0.0) + settings.get("jitter", 0.0) * jitter
        cumulative = 0.0
        for name in PROBABILITY_FAULTS:
            cumulative += settings.get(name, 0.0)
            if draw < cumulative:
                decision.fault = name
                break
        if decision.fault is None and "rate" in settings:
            limit, window = settings["rate"]
            key = next(
                r.pattern
                for r in self.rules
                if "rate" in r.settings and fnmatch.fnmatchcase(operation, r.pattern)
            )
            now = time.monotonic()
            with self._lock:
                start, used = self._windows.get(key, (now, 0))
                if now - start >= window:
                    start, used = now, 0
                used += 1
                self._windows[key] = (start, used)
            if used > limit:
                decision.fault = "429"
                decision.retry_after = max(1, int(window - (now - start) + 0.999))
        if decision.fault is not None:
            self.record(operation, call, decision.fault, "injected")
        return decision

    def record(self, operation: str, call: int, fault: str, detail: str) -> None:
        event = FaultEvent(operation, call, fault, detail)
        with self._lock:
            self.events.append(event)
        log.info("sandbox fault: %s call %d -> %s (%s)", operation, call, fault, detail)

    def describe(self) -> str:
        if not self.rules:
            return "none"
        return "; ".join(
            f"{r.pattern}: " + ", ".join(f"{k}={v}" for k, v in r.settings.items())
            for r in self.rules
        )

    def reset(self) -> None:
        """Forget call counters and the log (a fresh run with the same seed repeats faults)."""
        with self._lock:
            self._calls.clear()
            self._windows.clear()
            self.events.clear()
