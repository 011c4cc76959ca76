"""The portal's key on a Lagan note: FL notes have no field for it, so it rides in the text.

`add_note` appends `note_marker(key)` as the note's last line and looks for it before every
write; case reads strip it again, so raw records show the text as the councillor wrote it.
"""

from __future__ import annotations

import re
from typing import Any

from connector.errors import CRMRejected
from connector.lagan.faults import KIND

_NOTE_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
_MARKER_LINE = re.compile(r"\n\n\[caseload:[A-Za-z0-9_.:-]{1,100}\]\s*\Z")


def note_marker(key: str) -> str:
    """The last line of a note the portal wrote: its idempotency key, for the lookup."""
    if not _NOTE_KEY.fullmatch(key):
        raise CRMRejected(
            "a note's idempotency key must be 1-100 letters, digits, '-', '_', '.' or ':'",
            crm=KIND,
            operation="createNotes",
            advice="Pass the outbox entry's idempotency key (a UUID).",
        )
    return f"[caseload:{key}]"


def strip_note_markers(raw: Any) -> Any:
    """The case record with the connector's own marker line removed from each note's text.

    The marker is plumbing for exactly-once writes, not something a councillor wrote.
    """
    if not isinstance(raw, dict):
        return raw
    notes = raw.get("Notes")
    if isinstance(notes, dict) and isinstance(notes.get("Note"), list):
        for note in notes["Note"]:
            if isinstance(note, dict) and isinstance(note.get("Text"), str):
                note["Text"] = _MARKER_LINE.sub("", note["Text"])
    return raw


__all__ = ["note_marker", "strip_note_markers"]
