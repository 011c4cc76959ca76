"""A case's timeline: the CRM's notes and the portal's writes still waiting for it, merged
newest first, each with its files and whether it is still waiting."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from mappings.model import NoteKind
from portal_extensions.access import Viewer
from portal_extensions.casework.cases import VisibleCase
from portal_extensions.casework.wording import NOTE_LABELS, WRITE_TEXT
from portal_extensions.store.case_writes import PendingWrite
from portal_extensions.store.directory import DirectoryNames


@dataclass(frozen=True, slots=True)
class TimelineFile:
    name: str
    size_kb: int
    href: str | None  # None when there is nothing to download yet (no document id)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: datetime
    label: str
    author: str
    text: str | None
    files: tuple[TimelineFile, ...]
    waiting: str | None  # None: in the CRM; else "queued" or "needs attention"


def _aware(moment: datetime) -> datetime:
    """Naive times are UTC (as the store keeps them), so notes and writes sort together."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _kb(size_bytes: int) -> int:
    return max(1, -(-size_bytes // 1024))


def own_pending(
    visible: VisibleCase, pending: Iterable[PendingWrite], viewer: Viewer
) -> list[PendingWrite]:
    """The waiting writes this viewer may see: all of them with the notes, else their own."""
    if "notes" in visible.fields:
        return list(pending)
    return [write for write in pending if write.actor == viewer.user_id]


def attachment_href(case_id: uuid.UUID, document_id: str) -> str:
    """Where a file stored with the case in the CRM is downloaded from."""
    return f"/cases/{case_id}/attachments/{quote(document_id, safe='')}"


def queued_file_href(case_id: uuid.UUID, file_id: str) -> str:
    """Where a file still waiting in the outbox is downloaded from."""
    return f"/cases/{case_id}/queued-files/{quote(file_id, safe='')}"


def timeline(
    visible: VisibleCase,
    pending: Iterable[PendingWrite],
    names: DirectoryNames,
    *,
    crm_files: bool = True,
) -> list[TimelineEntry]:
    """Every entry newest first: the CRM's notes (labelled by kind, files downloadable by
    document id unless `crm_files` is False, when no CRM is connected to fetch them from) and
    the portal's writes not yet confirmed (files downloadable from the outbox). `pending` must
    already be limited to what the viewer may see (`own_pending`)."""
    case_id = visible.stored.case.portal_id
    entries: list[tuple[datetime, int, TimelineEntry]] = []
    for note in visible.fields.get("notes", []):
        at = _aware(datetime.fromisoformat(note["created_at"]))
        files = tuple(
            TimelineFile(
                item["filename"],
                _kb(item["size_bytes"]),
                attachment_href(case_id, item["crm_document_id"])
                if crm_files and item.get("crm_document_id")
                else None,
            )
            for item in note.get("attachments", [])
        )
        try:
            label = NOTE_LABELS[NoteKind(note.get("kind", NoteKind.NOTE))]
        except ValueError:
            label = "Note"
        entry = TimelineEntry(at, label, names.member(note["author"]), note["text"], files, None)
        entries.append((at, 0, entry))
    for write in pending:
        files = tuple(
            TimelineFile(item.name, _kb(item.size_bytes), queued_file_href(case_id, item.file_id))
            for item in write.files
        )
        waiting = "needs attention" if write.state == "needs_attention" else "queued"
        label = WRITE_TEXT.get(write.kind, "Change")
        entry = TimelineEntry(
            write.created_at, label, names.member(write.actor), write.text, files, waiting
        )
        entries.append((_aware(write.created_at), 1, entry))
    entries.sort(key=lambda item: (item[0], item[1]), reverse=True)
    return [entry for _, _, entry in entries]


__all__ = [
    "TimelineEntry",
    "TimelineFile",
    "attachment_href",
    "own_pending",
    "queued_file_href",
    "timeline",
]
