"""The health page's lines, as the store and its neighbours report them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """One line of the health page, e.g. ('CRM reachable', True, 'answered in 120 ms')."""

    name: str
    ok: bool
    detail: str


__all__ = ["HealthCheck"]
