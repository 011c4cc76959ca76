"""The outbox: every write to the CRM is first a row here, then sent by the dispatcher.

A write (create a case, update it, add a note, attach files, close, reopen) is stored with an
idempotency key, made once, in the same transaction as its audit event, so the portal can
answer "queued" at once and nothing is lost if the CRM, the network or the process dies.

The dispatcher claims rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: the write lock; both:
a claim token and a lease, so a dispatcher that died mid-call is taken over when the lease ends),
maps each write outbound, calls the connector, and records the outcome:

* confirmed: the CRM has it (the CRM reference is stored on the case for a create);
* queued again, with backoff, after a retryable failure (CRM down, timeout, throttled);
* needs attention, with a reason a person can act on, after a refusal (validation, a code the
  CRM does not know), or after too many attempts.

Exactly once on the CRM: a create and a note carry the entry's key into the CRM (the connector
looks it up, or lets the CRM refuse a second one, before any write that may repeat); close and
reopen are idempotent in the connector.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, Field

from connector.base import Attachment, CRMClient
from connector.errors import CRMError
from mappings.errors import MappingError
from mappings.model import MemberCase
from portal_extensions.store.audit import record_event
from portal_extensions.store.cases import (
    insert_local_case,
    set_crm_reference,
    update_local_case,
)
from portal_extensions.store.database import Store
from portal_extensions.store.schema import cases, outbox

log = logging.getLogger(__name__)

DISPATCH_ACTOR = "system:outbox"


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


class OutboundMapping(Protocol):
    """What the dispatcher needs of `mappings.Mapping`."""

    def to_crm(self, case: MemberCase, *, for_update: bool = False) -> dict[str, Any]: ...


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
    return _enqueue(
        conn,
        kind=WriteKind.CREATE_CASE,
        portal_id=str(case.portal_id),
        payload=case.model_dump(mode="json"),
        actor=actor,
        on_behalf_of=on_behalf_of,
        key=str(case.portal_id),
        now=now,
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
    return _enqueue(
        conn,
        kind=WriteKind.UPDATE_CASE,
        portal_id=str(case.portal_id),
        payload=case.model_dump(mode="json"),
        actor=actor,
        on_behalf_of=on_behalf_of,
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


def queue_close(
    conn: sa.Connection, portal_id: str, reason: str, *, actor: str, on_behalf_of: str | None = None
) -> str:
    return _enqueue(
        conn,
        kind=WriteKind.CLOSE_CASE,
        portal_id=portal_id,
        payload=ReasonPayload(reason=reason).model_dump(),
        actor=actor,
        on_behalf_of=on_behalf_of,
    )


def queue_reopen(
    conn: sa.Connection, portal_id: str, reason: str, *, actor: str, on_behalf_of: str | None = None
) -> str:
    return _enqueue(
        conn,
        kind=WriteKind.REOPEN_CASE,
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


# ----------------------------------------------------------------- dispatching
@dataclass
class DispatchReport:
    confirmed: int = 0
    retried: int = 0
    needs_attention: int = 0
    lost_claims: int = 0
    keys: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.confirmed + self.retried + self.needs_attention + self.lost_claims


class Dispatcher:
    """Sends queued writes to the CRM. Run one per process; several at once are safe."""

    def __init__(
        self,
        store: Store,
        client: CRMClient,
        mapping: OutboundMapping,
        *,
        lease: timedelta = timedelta(minutes=2),
        max_attempts: int = 12,
        backoff_initial: float = 5.0,
        backoff_max: float = 900.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.mapping = mapping
        self.lease = lease
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        self._checkpoint = checkpoint

    def _point(self, name: str) -> None:
        if self._checkpoint is not None:
            self._checkpoint(name)

    def _eligible(self, now: datetime) -> sa.ColumnElement[bool]:
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
                sa.and_(
                    outbox.c.state == OutboxState.QUEUED.value, outbox.c.next_attempt_at <= now
                ),
                sa.and_(outbox.c.state == OutboxState.SENT.value, outbox.c.claimed_until < now),
            ),
            ~blocked_by_older,
            sa.or_(outbox.c.kind == WriteKind.CREATE_CASE.value, case_in_crm),
        )

    def claim(self, limit: int = 20) -> tuple[str, list[Any]]:
        """Claim up to `limit` writes for this dispatcher; returns the token and the rows."""
        token = str(uuid.uuid4())
        now = self.clock()
        with self.store.write() as conn:
            ids = list(
                conn.execute(
                    sa.select(outbox.c.id)
                    .where(self._eligible(now))
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
                    claimed_until=now + self.lease,
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

    def run_once(self, limit: int = 20) -> DispatchReport:
        """Claim a batch and send it; returns what happened."""
        report = DispatchReport()
        token, rows = self.claim(limit)
        for row in rows:
            self._point("claimed")
            self._send(row, token, report)
        return report

    def run_until_idle(self, *, limit: int = 20, max_rounds: int = 1000) -> DispatchReport:
        """Send until nothing is ready (writes waiting for a backoff stay queued)."""
        total = DispatchReport()
        for _ in range(max_rounds):
            report = self.run_once(limit)
            if not report.handled:
                break
            total.confirmed += report.confirmed
            total.retried += report.retried
            total.needs_attention += report.needs_attention
            total.lost_claims += report.lost_claims
            total.keys.extend(report.keys)
        return total

    def serve(self, stop: threading.Event, *, idle_seconds: float = 2.0, limit: int = 20) -> None:
        """Send writes until `stop` is set, resting `idle_seconds` whenever nothing is due.

        For a worker thread or process beside the portal. A failure of the store or an
        unexpected error is logged and retried after the rest, so one bad moment does not end
        the worker; the writes stay safe in the outbox either way.
        """
        while not stop.is_set():
            try:
                handled = self.run_once(limit).handled
            except Exception:
                log.exception("outbox dispatcher round failed; retrying after a rest")
                handled = 0
            if not handled:
                stop.wait(idle_seconds)

    # --------------------------------------------------------------- sending
    def _crm_reference(self, portal_id: str) -> str | None:
        with self.store.read() as conn:
            ref: str | None = conn.execute(
                sa.select(cases.c.crm_reference).where(cases.c.portal_id == portal_id)
            ).scalar_one_or_none()
        return ref

    def _deliver(self, row: Any) -> str | None:
        """Make the CRM call for one write; returns the CRM reference it concerns."""
        kind = WriteKind(row["kind"])
        key: str = row["idempotency_key"]
        if kind is WriteKind.CREATE_CASE:
            case = MemberCase.model_validate(row["payload"])
            created = self.client.create_case(self.mapping.to_crm(case), key)
            return created.reference
        ref = self._crm_reference(row["portal_id"])
        if ref is None:  # pragma: no cover - excluded by the claim's eligibility rule
            raise CRMError("the case has no CRM reference yet", operation=kind.value)
        if kind is WriteKind.UPDATE_CASE:
            case = MemberCase.model_validate(row["payload"])
            self.client.update_case(ref, self.mapping.to_crm(case, for_update=True))
        elif kind in (WriteKind.ADD_NOTE, WriteKind.ATTACH):
            note = NotePayload.model_validate(row["payload"])
            files = [
                Attachment(
                    name=f.name,
                    content_type=f.content_type,
                    content=base64.b64decode(f.content_b64),
                )
                for f in note.files
            ]
            # The connector makes the note exactly-once per key, across retries and restarts.
            self.client.add_note(ref, note.text, files, idempotency_key=key)
        elif kind is WriteKind.CLOSE_CASE:
            self.client.close_case(ref, ReasonPayload.model_validate(row["payload"]).reason)
        elif kind is WriteKind.REOPEN_CASE:
            self.client.reopen_case(ref, ReasonPayload.model_validate(row["payload"]).reason)
        return ref

    def _send(self, row: Any, token: str, report: DispatchReport) -> None:
        key = row["idempotency_key"]
        try:
            reference = self._deliver(row)
        except CRMError as exc:
            self._point("failed")
            if exc.retryable and row["attempts"] < self.max_attempts:
                self._retry_later(row, token, exc, report)
            else:
                reason = str(exc)
                if exc.retryable:
                    reason = (
                        f"The CRM kept failing after {row['attempts']} attempts: {exc} "
                        "Retry the write once `caseload crm check` passes."
                    )
                self._needs_attention(row, token, reason, report)
            return
        except MappingError as exc:
            self._needs_attention(
                row,
                token,
                f"The write cannot be put in the CRM's shape: {exc}. Fix the case data or the "
                "mapping profile (`caseload mappings validate`), then retry.",
                report,
            )
            return
        self._point("delivered")
        self._confirm(row, token, reference, report)
        report.keys.append(key)

    def _finish(self, conn: sa.Connection, row: Any, token: str, **values: Any) -> bool:
        result = conn.execute(
            sa.update(outbox)
            .where(outbox.c.id == row["id"], outbox.c.claim_token == token)
            .values(claim_token=None, claimed_until=None, updated_at=self.clock(), **values)
        )
        return result.rowcount == 1

    def _confirm(self, row: Any, token: str, reference: str | None, report: DispatchReport) -> None:
        now = self.clock()
        with self.store.write() as conn:
            done = self._finish(
                conn,
                row,
                token,
                state=OutboxState.CONFIRMED.value,
                crm_reference=reference,
                confirmed_at=now,
                last_error=None,
            )
            if not done:  # our lease ran out and another dispatcher took the write over
                report.lost_claims += 1
                return
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
        report.confirmed += 1

    def _retry_later(self, row: Any, token: str, exc: CRMError, report: DispatchReport) -> None:
        delay = min(self.backoff_max, self.backoff_initial * 2 ** max(0, row["attempts"] - 1))
        delay *= random.uniform(0.8, 1.2)  # spread retries of many writes after an outage
        if exc.retry_after:
            delay = max(delay, exc.retry_after)
        with self.store.write() as conn:
            done = self._finish(
                conn,
                row,
                token,
                state=OutboxState.QUEUED.value,
                next_attempt_at=self.clock() + timedelta(seconds=delay),
                last_error=str(exc)[:1000],
            )
        if done:
            report.retried += 1
        else:
            report.lost_claims += 1

    def _needs_attention(self, row: Any, token: str, reason: str, report: DispatchReport) -> None:
        with self.store.write() as conn:
            done = self._finish(
                conn,
                row,
                token,
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
        if done:
            report.needs_attention += 1
        else:
            report.lost_claims += 1


__all__ = [
    "DispatchReport",
    "Dispatcher",
    "OutboxEntry",
    "OutboxState",
    "WriteKind",
    "backlog",
    "entries_for_case",
    "queue_close",
    "queue_create_case",
    "queue_note",
    "queue_reopen",
    "queue_update_case",
    "retry_entry",
]
