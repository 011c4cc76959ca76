"""The other interfaces the web front needs from the rest of the portal: audit and health.

Small protocols so the store (audit trail table) and the connector/outbox/sync (health) plug in
without the web front importing them; in-memory versions serve the tests and the early demo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class PortalAuditEvent:
    """Who did what, for whom, to which subject, when, and how it ended. Never case content."""

    at: datetime
    actor: str
    action: str
    subject_type: str
    subject_id: str | None
    outcome: Outcome
    on_behalf_of: str | None = None


class AuditTrail(Protocol):
    def record(self, event: PortalAuditEvent) -> None: ...


class MemoryAuditTrail:
    """Keeps events in a list (tests and the demo before the store is wired)."""

    def __init__(self) -> None:
        self.events: list[PortalAuditEvent] = []

    def record(self, event: PortalAuditEvent) -> None:
        self.events.append(event)


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One line of the health page, e.g. ('CRM reachable', True, 'answered in 120 ms')."""

    name: str
    ok: bool
    detail: str


class HealthSource(Protocol):
    def __call__(self) -> Sequence[HealthCheck]: ...
