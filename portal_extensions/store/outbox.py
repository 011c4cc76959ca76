"""The outbox table: every write to the CRM is first a row here, then sent by the dispatcher.

A write (create a case, update it, add a note, attach files, close, reopen) is stored with an
idempotency key, made once, in the same transaction as its audit event, so the portal can
answer "queued" at once and nothing is lost if the CRM, the network or the process dies.

The dispatcher (`jobs.dispatch.Dispatcher`) leases rows here (`claim`: PostgreSQL `FOR UPDATE
SKIP LOCKED`; SQLite: the write lock; both: a claim token and a lease, so a dispatcher that died
mid-call is taken over when the lease ends), calls the CRM, and records the outcome here, each
only while its claim still holds:

* confirmed (`confirm`): the CRM has it (the CRM reference is stored on the case for a create);
* queued again (`retry_later`), with backoff, after a retryable failure;
* needs attention (`needs_attention`), with a reason a person can act on, after a refusal or
  after too many attempts.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field

from connector.base import Attachment
from mappings.model import MemberCase
from portal_extensions.store.audit import record_event
from portal_extensions.store.cases import (
    insert_local_case,
    set_crm_reference,
    update_local_case,
)
from portal_extensions.store.database import Store
from portal_extensions.store.schema import cases, outbox

DISPATCH_ACTOR = "system:outbox"
"""Who the audit trail names for what the dispatcher records."""


class WriteKind(StrEnum):
    CREATE_CASE = "create_case"
    UPDATE_CASE = "update_case"
    ADD_NOTE = "add_note"
    ATTACH = "attach"
    CLOSE_CASE = "close_case"
    REOPEN_CASE = "reopen_case"


class OutboxState(StrEnum):
    QUEUED = "queued"
    SENT = "sent"  # claimed by a dispatcher; the CRM call may be in flight
    CONFIRMED = "confirmed"
    NEEDS_ATTENTION = "needs_attention"


class FilePayload(BaseModel):
    name: str = Field(min_length=1, max_length=255)
    content_type: str = "application/octet-stream"
    content_b64: str


class NotePayload(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    files: list[FilePayload] = Field(default_factory=list)


class ReasonPayload(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class OutboxEntry(BaseModel):
    """One write as the portal shows it ("queued", "needs attention: <reason>")."""

    id: int
    idempotency_key: str
    portal_id: str
    kind: WriteKind
    state: OutboxState
    attempts: int
    next_attempt_at: datetime
    crm_reference: str | None
    last_error: str | None
    attention_reason: str | None
    actor: str
    created_at: datetime
    confirmed_at: datetime | None


# ----------------------------------------------------------------- enqueueing
def _enqueue(
    conn: sa.Connection,
    *,
    kind: WriteKind,
    portal_id: str,
    payload: dict[str, Any],
    actor: str,
    on_behalf_of: str | None,
    key: str | None = None,
    now: datetime | None = None,
) -> str:
    moment = now or datetime.now(UTC)
    idempotency_key = key or str(uuid.uuid4())
    conn.execute(
        sa.insert(outbox).values(
            idempotency_key=idempotency_key,
            portal_id=portal_id,
            kind=kind.value,
            payload=payload,
            state=OutboxState.QUEUED.value,
            attempts=0,
            next_attempt_at=moment,
            actor=actor,
            created_at=moment,
            updated_at=moment,
        )
    )
    record_event(
        conn,
        actor=actor,
        on_behalf_of=on_behalf_of,
        action=f"outbox.{kind.value}.queued",
        subject_type="case",
        subject_id=portal_id,
        detail={"idempotency_key": idempotency_key, "kind": kind.value},
        at=moment,
    )
    return idempotency_key


def queue_create_case(
    conn: sa.Connection, case: MemberCase, *, actor: str, on_behalf_of: str | None = None
) -> str:
    """Index a new case as queued and queue its creation in the CRM; returns the key.

    The key is the case's portal id, which the connector stamps into the CRM record, so the
    case the CRM makes maps back to this very row on the next sync.
    """
    now = datetime.now(UTC)
    insert_local_case(conn, case, now=now)
    return _enqueue_case(
        conn, WriteKind.CREATE_CASE, case, actor, on_behalf_of, now, key=str(case.portal_id)
    )


def queue_update_case(
    conn: sa.Connection, case: MemberCase, *, actor: str, on_behalf_of: str | None = None
) -> str:
    """Re-index the changed case and queue it for the CRM, in the caller's transaction.

    The index changes first, with the outbox row and its audit event, so a change of sharing
    or a withdrawn authority takes effect on every page, list and search at once, before the
    CRM confirms it. Raises `LookupError` if the case is not in the index.
    """
    now = datetime.now(UTC)
    if not update_local_case(conn, case, now=now):
        raise LookupError("the case is not in the index, so its change was not queued")
    return _enqueue_case(conn, WriteKind.UPDATE_CASE, case, actor, on_behalf_of, now)


def _enqueue_case(
    conn: sa.Connection,
    kind: WriteKind,
    case: MemberCase,
    actor: str,
    on_behalf_of: str | None,
    now: datetime,
    *,
    key: str | None = None,
) -> str:
    """Queue a write whose payload is the whole case (creating or updating it)."""
    return _enqueue(
        conn,
        kind=kind,
        portal_id=str(case.portal_id),
        payload=case.model_dump(mode="json"),
        actor=actor,
        on_behalf_of=on_behalf_of,
        key=key,
        now=now,
    )


def queue_note(
    conn: sa.Connection,
    portal_id: str,
    text: str,
    *,
    actor: str,
    attachments: Sequence[Attachment] = (),
    on_behalf_of: str | None = None,
) -> str:
    """Queue a note (with files, if any: an `attach` write) on a case."""
    files = [
        FilePayload(
            name=item.name,
            content_type=item.content_type,
            content_b64=base64.b64encode(item.content).decode("ascii"),
        )
        for item in attachments
    ]
    return _enqueue(
        conn,
        kind=WriteKind.ATTACH if files else WriteKind.ADD_NOTE,
        portal_id=portal_id,
        payload=NotePayload(text=text, files=files).model_dump(),
        actor=actor,
        on_behalf_of=on_behalf_of,
    )


#: The writes whose payload is only a reason.
REASON_KINDS = frozenset({WriteKind.CLOSE_CASE, WriteKind.REOPEN_CASE})


def queue_with_reason(
    conn: sa.Connection,
    kind: WriteKind,
    portal_id: str,
    reason: str,
    *,
    actor: str,
    on_behalf_of: str | None = None,
) -> str:
    """Queue closing (`CLOSE_CASE`) or reopening (`REOPEN_CASE`) a case, with the reason."""
    if kind not in REASON_KINDS:
        raise ValueError(f"a {kind.value} write carries more than a reason")
    return _enqueue(
        conn,
        kind=kind,
        portal_id=portal_id,
        payload=ReasonPayload(reason=reason).model_dump(),
        actor=actor,
        on_behalf_of=on_behalf_of,
    )


def retry_entry(conn: sa.Connection, key: str, *, actor: str) -> bool:
    """Send a write that needed attention again (after a person fixed the cause)."""
    now = datetime.now(UTC)
    result = conn.execute(
        sa.update(outbox)
        .where(
            outbox.c.idempotency_key == key,
            outbox.c.state == OutboxState.NEEDS_ATTENTION.value,
        )
        .values(
            state=OutboxState.QUEUED.value,
            attention_reason=None,
            attempts=0,
            next_attempt_at=now,
            updated_at=now,
        )
        .returning(outbox.c.portal_id)
    )
    portal_id = result.scalar_one_or_none()
    if portal_id is None:
        return False
    record_event(
        conn,
        actor=actor,
        action="outbox.retried",
        subject_type="case",
        subject_id=portal_id,
        detail={"idempotency_key": key},
    )
    return True


def entries_for_case(conn: sa.Connection, portal_id: str) -> list[OutboxEntry]:
    """The writes of one case, oldest first (for the case page's "pending" panel)."""
    rows = conn.execute(
        sa.select(outbox).where(outbox.c.portal_id == portal_id).order_by(outbox.c.id)
    ).mappings()
    return [OutboxEntry.model_validate(dict(row)) for row in rows]


def backlog(conn: sa.Connection) -> dict[str, int]:
    """How many writes are in each state (every state listed, zeros included)."""
    counts = dict.fromkeys((s.value for s in OutboxState), 0)
    for state, number in conn.execute(
        sa.select(outbox.c.state, sa.func.count()).group_by(outbox.c.state)
    ):
        counts[state] = int(number)
    return counts


# ----------------------------------------------------------------- leasing (the dispatcher)
def _eligible(now: datetime) -> sa.ColumnElement[bool]:
    """Ready to send: queued and due, or sent under a lease that has run out; never ahead of
    an older unfinished write of the same case, and never before the case is in the CRM
    (except the write that creates it)."""
    older = outbox.alias("older")
    blocked_by_older = (
        sa.select(older.c.id)
        .where(
            older.c.portal_id == outbox.c.portal_id,
            older.c.id < outbox.c.id,
            older.c.state.in_([OutboxState.QUEUED.value, OutboxState.SENT.value]),
        )
        .exists()
    )
    case_in_crm = (
        sa.select(cases.c.id)
        .where(cases.c.portal_id == outbox.c.portal_id, cases.c.crm_reference.is_not(None))
        .exists()
    )
    return sa.and_(
        sa.or_(
            sa.and_(outbox.c.state == OutboxState.QUEUED.value, outbox.c.next_attempt_at <= now),
            sa.and_(outbox.c.state == OutboxState.SENT.value, outbox.c.claimed_until < now),
        ),
        ~blocked_by_older,
        sa.or_(outbox.c.kind == WriteKind.CREATE_CASE.value, case_in_crm),
    )


def claim(store: Store, *, limit: int, lease: timedelta, now: datetime) -> tuple[str, list[Any]]:
    """Lease up to `limit` ready writes to one dispatcher until `now + lease`; returns the
    claim token and the rows (mappings of the outbox columns), oldest first. Each claimed row
    counts one more attempt."""
    token = str(uuid.uuid4())
    with store.write() as conn:
        ids = list(
            conn.execute(
                sa.select(outbox.c.id)
                .where(_eligible(now))
                .order_by(outbox.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=outbox)
            ).scalars()
        )
        if not ids:
            return token, []
        conn.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(ids))
            .values(
                state=OutboxState.SENT.value,
                claim_token=token,
                claimed_until=now + lease,
                attempts=outbox.c.attempts + 1,
                updated_at=now,
            )
        )
        rows = list(
            conn.execute(
                sa.select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id)
            ).mappings()
        )
    return token, rows


def crm_reference(store: Store, portal_id: str) -> str | None:
    """The CRM's reference of an indexed case, or None while the CRM has not confirmed it."""
    with store.read() as conn:
        ref: str | None = conn.execute(
            sa.select(cases.c.crm_reference).where(cases.c.portal_id == portal_id)
        ).scalar_one_or_none()
    return ref


def _finish(conn: sa.Connection, row: Any, token: str, now: datetime, **values: Any) -> bool:
    """Record an outcome only while this claim holds; False if another dispatcher took the
    write over after the lease ran out."""
    result = conn.execute(
        sa.update(outbox)
        .where(outbox.c.id == row["id"], outbox.c.claim_token == token)
        .values(claim_token=None, claimed_until=None, updated_at=now, **values)
    )
    return result.rowcount == 1


def confirm(store: Store, row: Any, token: str, reference: str | None, *, now: datetime) -> bool:
    """The CRM has the write: mark it confirmed, store the CRM reference of a created case,
    and audit it, in one transaction. False (nothing recorded) if the claim was lost."""
    with store.write() as conn:
        done = _finish(
            conn,
            row,
            token,
            now,
            state=OutboxState.CONFIRMED.value,
            crm_reference=reference,
            confirmed_at=now,
            last_error=None,
        )
        if not done:
            return False
        if row["kind"] == WriteKind.CREATE_CASE.value and reference:
            set_crm_reference(conn, row["portal_id"], reference, now)
        record_event(
            conn,
            actor=DISPATCH_ACTOR,
            action=f"outbox.{row['kind']}.confirmed",
            subject_type="case",
            subject_id=row["portal_id"],
            detail={"idempotency_key": row["idempotency_key"], "crm_reference": reference},
        )
    return True


def retry_later(
    store: Store, row: Any, token: str, *, at: datetime, error: str, now: datetime
) -> bool:
    """Queue the write again for `at` after a failure worth retrying; False if the claim was
    lost."""
    with store.write() as conn:
        return _finish(
            conn,
            row,
            token,
            now,
            state=OutboxState.QUEUED.value,
            next_attempt_at=at,
            last_error=error[:1000],
        )


def needs_attention(store: Store, row: Any, token: str, reason: str, *, now: datetime) -> bool:
    """Stop sending the write until a person retries it (`retry_entry`), with the reason they
    can act on, audited; False if the claim was lost."""
    with store.write() as conn:
        done = _finish(
            conn,
            row,
            token,
            now,
            state=OutboxState.NEEDS_ATTENTION.value,
            attention_reason=reason[:1000],
            last_error=reason[:1000],
        )
        if done:
            record_event(
                conn,
                actor=DISPATCH_ACTOR,
                action=f"outbox.{row['kind']}.needs_attention",
                subject_type="case",
                subject_id=row["portal_id"],
                detail={"idempotency_key": row["idempotency_key"], "reason": reason[:500]},
            )
    return done


__all__ = [
    "DISPATCH_ACTOR",
    "FilePayload",
    "NotePayload",
    "OutboxEntry",
    "OutboxState",
    "ReasonPayload",
    "WriteKind",
    "backlog",
    "claim",
    "confirm",
    "crm_reference",
    "entries_for_case",
    "needs_attention",
    "queue_create_case",
    "queue_note",
    "queue_update_case",
    "queue_with_reason",
    "retry_entry",
    "retry_later",
]
