"""What a change to a case comes to: queued for the CRM, refused as a whole, or sent back with
a problem beside each field.

Every change (a note, a file, closing, reopening, sharing, authority, sending to a service, a
new enquiry) answers with one of these three, so the page and the JSON endpoint over the same
change differ only in how they show it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Queued:
    """The change is in the outbox (and, for changes to the case record, already in the
    index). `key` is the outbox's idempotency key."""

    case_id: uuid.UUID
    key: str
    response_due: date | None = None  # when a service's reply is due, for a sent case


@dataclass(frozen=True, slots=True)
class Conflict:
    """The change makes no sense in the case's present state (already closed, not closed,
    authority already withdrawn...): nothing was changed."""

    message: str


@dataclass(frozen=True, slots=True)
class Invalid:
    """The form's problems, by field name, in words the person who typed it can act on."""

    errors: dict[str, str] = field(default_factory=dict)


ChangeResult = Queued | Conflict | Invalid

__all__ = ["ChangeResult", "Conflict", "Invalid", "Queued"]
