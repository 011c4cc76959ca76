"""Writes to cases waiting for the CRM, as the case page shows them, and the files they carry.

A change made in the portal is queued in the outbox (`store.outbox`) and shown on its case as a
`PendingWrite` until the CRM confirms it; a file uploaded with it is kept in the outbox until
then and is addressed by a `queued_file_id` (`<write key>.<position>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """A file that passed the upload checks (`casework` attachments): type sniffed from the
    content and agreeing with the name, name made safe. Only such files reach the outbox."""

    name: str  # sanitised
    media_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class QueuedFile:
    """A file uploaded with a write the CRM has not confirmed yet (its content is in the
    outbox). `file_id` addresses it within its case: `<write key>.<position>`."""

    file_id: str
    name: str
    media_type: str
    size_bytes: int


def queued_file_id(key: str, position: int) -> str:
    return f"{key}.{position}"


def split_queued_file_id(file_id: str) -> tuple[str, int] | None:
    """The write key and position of a `queued_file_id`, or None if it is not one."""
    key, _, position = file_id.rpartition(".")
    if not key or not position.isdigit() or len(position) > 4:
        return None
    return key, int(position)


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """A change made in the portal that the CRM has not confirmed yet."""

    kind: str  # add_note, close_case, ...
    state: str  # queued, sent, needs_attention
    actor: str
    created_at: datetime
    key: str = ""  # the outbox's idempotency key
    text: str | None = None  # a note's text or a closing/reopening reason
    files: tuple[QueuedFile, ...] = ()


SHOWN_TEXT_KINDS = frozenset({"add_note", "attach", "close_case", "reopen_case"})
"""Writes whose text the timeline shows while they wait (a whole changed case is not text)."""


__all__ = [
    "SHOWN_TEXT_KINDS",
    "CheckedFile",
    "PendingWrite",
    "QueuedFile",
    "queued_file_id",
    "split_queued_file_id",
]
