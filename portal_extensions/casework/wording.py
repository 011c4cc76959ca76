"""Plain-English words for casework values, shared by pages, the JSON API and (as they come)
reminders, email and reports, so a date or a waiting change reads the same everywhere."""

from __future__ import annotations

from datetime import date, datetime

from mappings.model import COUNCIL_ZONE, NoteKind

WRITE_TEXT = {
    "create_case": "New case",
    "update_case": "Changes to the case",
    "add_note": "Note",
    "attach": "Note with files",
    "service_response": "Reply from a service",
    "close_case": "Closing the case",
    "reopen_case": "Reopening the case",
}
"""What each kind of write waiting for the CRM is called on a case's timeline."""

NOTE_LABELS = {
    NoteKind.NOTE: "Note",
    NoteKind.SERVICE_RESPONSE: "Reply from a service",
    NoteKind.STATUS_CHANGE: "Status changed",
    NoteKind.CORRESPONDENCE: "Letter or email",
}
"""What each kind of CRM note is called on a case's timeline."""


def council_date(value: date | datetime | None) -> str:
    """A day as the council writes it ("5 December 2026"), in the council's time zone."""
    if value is None:
        return "Not set"
    if isinstance(value, datetime):
        value = value.astimezone(COUNCIL_ZONE).date()
    return f"{value.day} {value:%B %Y}"


def council_time(value: datetime | str | None) -> str:
    """A moment as the council writes it ("5 December 2026 at 2:05pm"), in council time."""
    if value is None:
        return "Not set"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(COUNCIL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


__all__ = ["NOTE_LABELS", "WRITE_TEXT", "council_date", "council_time"]
