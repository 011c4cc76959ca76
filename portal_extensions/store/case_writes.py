"""Writes to cases waiting for the CRM, as the case page shows them, and the files they carry.

A change made in the portal is queued in the outbox (`store.outbox`) and shown on its case as a
`PendingWrite` until the CRM confirms it; a file uploaded with it is kept in the outbox until
then and is addressed by a `queued_file_id` (`<write key>.<position>`).
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from connector.base import Attachment
from mappings.model import MemberCase
from portal_extensions.store.audit import record_event
from portal_extensions.store.database import Store
from portal_extensions.store.outbox import (
    NotePayload,
    OutboxState,
    WriteKind,
    queue_create_case,
    queue_note,
    queue_update_case,
    queue_with_reason,
)
from portal_extensions.store.schema import outbox

log = logging.getLogger(__name__)


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


class StoreCaseWrites:
    """`CaseWrites` over the store's outbox (which audits each write in its transaction)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_note(
        self, portal_id: uuid.UUID, text: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        with self.store.write() as conn:
            return queue_note(conn, str(portal_id), text, actor=actor, on_behalf_of=on_behalf_of)

    def attach(
        self,
        portal_id: uuid.UUID,
        text: str,
        files: Sequence[CheckedFile],
        *,
        actor: str,
        on_behalf_of: str | None,
    ) -> str:
        attachments = [
            Attachment(name=f.name, content_type=f.media_type, content=f.content) for f in files
        ]
        with self.store.write() as conn:
            return queue_note(
                conn,
                str(portal_id),
                text,
                actor=actor,
                attachments=attachments,
                on_behalf_of=on_behalf_of,
            )

    def close(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        return self._with_reason(WriteKind.CLOSE_CASE, portal_id, reason, actor, on_behalf_of)

    def reopen(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        return self._with_reason(WriteKind.REOPEN_CASE, portal_id, reason, actor, on_behalf_of)

    def _with_reason(
        self,
        kind: WriteKind,
        portal_id: uuid.UUID,
        reason: str,
        actor: str,
        on_behalf_of: str | None,
    ) -> str:
        with self.store.write() as conn:
            return queue_with_reason(
                conn, kind, str(portal_id), reason, actor=actor, on_behalf_of=on_behalf_of
            )

    def create_case(self, case: MemberCase, *, actor: str, on_behalf_of: str | None) -> str:
        with self.store.write() as conn:
            return queue_create_case(conn, case, actor=actor, on_behalf_of=on_behalf_of)

    def update_case(
        self, case: MemberCase, *, change: str, actor: str, on_behalf_of: str | None
    ) -> str:
        with self.store.write() as conn:
            key = queue_update_case(conn, case, actor=actor, on_behalf_of=on_behalf_of)
            record_event(
                conn,
                actor=actor,
                action=change,
                subject_type="case",
                subject_id=str(case.portal_id),
                detail={"outcome": "allowed", "idempotency_key": key},
                on_behalf_of=on_behalf_of,
            )
        return key

    def pending(self, portal_id: uuid.UUID) -> list[PendingWrite]:
        """The case's writes the CRM has not confirmed, oldest first, with a note's text and
        files (named and sized from the outbox payload; the content is not decoded here)."""
        query = _PENDING_WRITES.where(
            outbox.c.portal_id == str(portal_id),
            outbox.c.state != OutboxState.CONFIRMED.value,
        ).order_by(outbox.c.id)
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return [self._pending(row) for row in rows]

    @staticmethod
    def _pending(row: Any) -> PendingWrite:
        text: str | None = None
        files: tuple[QueuedFile, ...] = ()
        note = _note_of(row)
        if note is not None:
            text = note.text
            files = tuple(
                QueuedFile(
                    queued_file_id(row.idempotency_key, n),
                    item.name,
                    item.content_type,
                    _decoded_size(item.content_b64),
                )
                for n, item in enumerate(note.files)
            )
        elif row.kind in (WriteKind.CLOSE_CASE.value, WriteKind.REOPEN_CASE.value):
            reason = row.payload.get("reason") if isinstance(row.payload, dict) else None
            text = reason if isinstance(reason, str) else None
        return PendingWrite(
            row.kind,
            row.state,
            row.actor,
            row.created_at,
            key=row.idempotency_key,
            text=text,
            files=files,
        )

    def queued_file(
        self, portal_id: uuid.UUID, file_id: str
    ) -> tuple[PendingWrite, CheckedFile] | None:
        split = split_queued_file_id(file_id)
        if split is None:
            return None
        key, position = split
        query = _PENDING_WRITES.where(
            outbox.c.portal_id == str(portal_id), outbox.c.idempotency_key == key
        )
        with self.store.read() as conn:
            row = conn.execute(query).first()
        note = _note_of(row) if row is not None else None
        if row is None or note is None or position >= len(note.files):
            return None
        item = note.files[position]
        try:
            content = base64.b64decode(item.content_b64, validate=True)
        except ValueError:
            log.warning("a queued file in the outbox is not valid base64; not served")
            return None
        return self._pending(row), CheckedFile(item.name, item.content_type, content)


_PENDING_WRITES = sa.select(
    outbox.c.idempotency_key,
    outbox.c.kind,
    outbox.c.state,
    outbox.c.actor,
    outbox.c.created_at,
    outbox.c.payload,
)
"""An outbox row as the case page shows a write waiting for the CRM."""


def _note_of(row: Any) -> NotePayload | None:
    """The note (text and files) of a waiting note or attach write; None for other writes."""
    if row.kind not in (WriteKind.ADD_NOTE.value, WriteKind.ATTACH.value):
        return None
    try:
        return NotePayload.model_validate(row.payload if isinstance(row.payload, dict) else {})
    except ValidationError:
        return None


def _decoded_size(b64: str) -> int:
    """The size of base64 content without decoding it."""
    return len(b64) * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)


__all__ = [
    "SHOWN_TEXT_KINDS",
    "CheckedFile",
    "PendingWrite",
    "QueuedFile",
    "StoreCaseWrites",
    "queued_file_id",
    "split_queued_file_id",
]
