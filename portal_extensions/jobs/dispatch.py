"""The dispatcher: sends the outbox's queued writes to the CRM, exactly once each.

It leases writes from the outbox table (`store.outbox.claim`), maps each outbound, calls the
connector, and records the outcome in the outbox (`store.outbox.confirm`, `retry_later`,
`needs_attention`), each only while its lease holds:

* confirmed: the CRM has it (the CRM reference is stored on the case for a create);
* queued again, with backoff, after a retryable failure (CRM down, timeout, throttled);
* needs attention, with a reason a person can act on, after a refusal (validation, a code the
  CRM does not know), or after too many attempts.

A service's reply (`service_response`) goes to the CRM as a note: the CRM has no other kind.

Exactly once on the CRM: a create and a note carry the entry's key into the CRM (the connector
looks it up, or lets the CRM refuse a second one, before any write that may repeat); close and
reopen are idempotent in the connector. Several dispatchers may run at once (processes, hosts):
the lease keeps each write with one of them.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connector.base import Attachment, CRMClient
from connector.errors import CRMError
from mappings.errors import MappingError
from mappings.model import MemberCase
from portal_extensions.store import outbox
from portal_extensions.store.database import Store
from portal_extensions.store.outbox import NotePayload, ReasonPayload, WriteKind

log = logging.getLogger(__name__)


class OutboundMapping(Protocol):
    """What the dispatcher needs of `mappings.Mapping`."""

    def to_crm(self, case: MemberCase, *, for_update: bool = False) -> dict[str, Any]: ...


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

    def claim(self, limit: int = 20) -> tuple[str, list[Any]]:
        """Claim up to `limit` writes for this dispatcher; returns the token and the rows."""
        return outbox.claim(self.store, limit=limit, lease=self.lease, now=self.clock())

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
    def _deliver(self, row: Any) -> str | None:
        """Make the CRM call for one write; returns the CRM reference it concerns."""
        kind = WriteKind(row["kind"])
        key: str = row["idempotency_key"]
        if kind is WriteKind.CREATE_CASE:
            case = MemberCase.model_validate(row["payload"])
            created = self.client.create_case(self.mapping.to_crm(case), key)
            return created.reference
        ref = outbox.crm_reference(self.store, row["portal_id"])
        if ref is None:  # pragma: no cover - excluded by the claim's eligibility rule
            raise CRMError("the case has no CRM reference yet", operation=kind.value)
        if kind is WriteKind.UPDATE_CASE:
            case = MemberCase.model_validate(row["payload"])
            self.client.update_case(ref, self.mapping.to_crm(case, for_update=True))
        elif kind in (WriteKind.ADD_NOTE, WriteKind.ATTACH, WriteKind.SERVICE_RESPONSE):
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
        if outbox.confirm(self.store, row, token, reference, now=self.clock()):
            report.confirmed += 1
        else:  # our lease ran out and another dispatcher took the write over
            report.lost_claims += 1
        report.keys.append(key)

    def _retry_later(self, row: Any, token: str, exc: CRMError, report: DispatchReport) -> None:
        delay = min(self.backoff_max, self.backoff_initial * 2 ** max(0, row["attempts"] - 1))
        delay *= random.uniform(0.8, 1.2)  # spread retries of many writes after an outage
        if exc.retry_after:
            delay = max(delay, exc.retry_after)
        now = self.clock()
        if outbox.retry_later(
            self.store, row, token, at=now + timedelta(seconds=delay), error=str(exc), now=now
        ):
            report.retried += 1
        else:
            report.lost_claims += 1

    def _needs_attention(self, row: Any, token: str, reason: str, report: DispatchReport) -> None:
        if outbox.needs_attention(self.store, row, token, reason, now=self.clock()):
            report.needs_attention += 1
        else:
            report.lost_claims += 1


__all__ = ["DispatchReport", "Dispatcher", "OutboundMapping"]
