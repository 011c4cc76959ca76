"""Sync: bring the case index up to date with the CRM, resumably.

The CRM streams the cases changed since the watermark, page by page (oldest first); each page is
mapped and upserted in one transaction together with the new watermark, so a sync killed at any
point has either committed a page completely or not at all, and the next run carries on from the
last committed page. Re-reading a window of `overlap` before the watermark catches cases changed
within the same second as the last one read, and clock skew between the CRM and this server.

A full sync (`full=True`, or the first sync) reads everything and marks each row it sees with
its run id; at the end, indexed cases that the CRM no longer has (deleted, or merged into
another) are marked removed. An interrupted full sync resumes as a full sync.

A record that cannot be mapped is recorded in `sync_problems` (CRM reference, field, message)
and skipped; it never stops the sync, and it is cleared once the record maps again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connector.base import CasePage, CRMClient, RawCase
from connector.errors import CRMNotFound
from mappings.errors import FieldProblem, MappingError, RecordMappingError
from mappings.model import MemberCase
from portal_extensions.store.audit import record_event
from portal_extensions.store.cases import (
    IndexedCase,
    UpsertResult,
    mark_seen_in_full_run,
    remove_reference,
    remove_unseen,
    stable_portal_id,
    upsert_cases,
)
from portal_extensions.store.database import Connection, Store
from portal_extensions.store.sync_state import (
    MappingProblem,
    read_sync_state,
    resolve_problems,
    save_problems,
    write_sync_state,
)

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYNC_ACTOR = "system:sync"
REMOVED_REASON = "no longer in the CRM (deleted or merged)"


class CaseMapping(Protocol):
    """What sync needs of `mappings.Mapping` (a protocol, so tests can pass a small fake)."""

    @property
    def crm(self) -> str: ...

    def to_caseload(
        self, raw: dict[str, Any], *, item_problems: list[FieldProblem] | None = None
    ) -> MemberCase: ...

    def reference_of(self, raw: dict[str, Any]) -> str: ...

    def modified_at(self, raw: dict[str, Any]) -> datetime | None:
        """When the CRM last changed the raw case, if its records say; moves the watermark."""
        ...


#: Called at named points of a run ("page", "upserted", "committed", "reconciled"): the seam
#: tests use to kill a sync at an exact place. Production passes nothing.
Checkpoint = Callable[[str], None]


@dataclass
class SyncReport:
    """What one run did, for the one-line summary, `caseload status` and the audit trail."""

    full: bool
    fetched: int = 0
    upserts: UpsertResult = field(default_factory=UpsertResult)
    problems: int = 0
    removed: int = 0
    seconds: float = 0.0
    watermark: datetime | None = None

    def summary(self) -> str:
        extra = []
        if self.upserts.inserted or self.upserts.updated:
            extra.append(f"{self.upserts.inserted} new, {self.upserts.updated} changed")
        if self.problems:
            extra.append(f"{self.problems} could not be mapped (see `caseload status`)")
        if self.removed:
            extra.append(f"{self.removed} removed in the CRM")
        tail = f" ({'; '.join(extra)})" if extra else ""
        return f"synced {self.fetched} cases in {self.seconds:.1f} s{tail}"


class Syncer:
    """Runs syncs of one CRM into one store."""

    def __init__(
        self,
        store: Store,
        client: CRMClient,
        mapping: CaseMapping,
        *,
        batch_size: int = 500,
        overlap: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        checkpoint: Checkpoint | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.mapping = mapping
        self.batch_size = batch_size
        self.overlap = overlap
        self.clock = clock
        self._checkpoint = checkpoint

    def _point(self, name: str) -> None:
        if self._checkpoint is not None:
            self._checkpoint(name)

    # ------------------------------------------------------------------ state
    def _state(self, conn: Connection) -> Any:
        return read_sync_state(conn)

    def _set_state(self, conn: Connection, **values: Any) -> None:
        write_sync_state(conn, **values)

    # -------------------------------------------------------------------- run
    def run(
        self, *, full: bool = False, on_progress: Callable[[int], None] | None = None
    ) -> SyncReport:
        """Sync changed cases (or all, if `full`); resumes an interrupted full sync."""
        started = time.perf_counter()
        now = self.clock()
        with self.store.write() as conn:
            state = self._state(conn)
            run_id: str | None = state.full_run_id
            if full or state.watermark is None or run_id is not None:
                if run_id is None:
                    run_id = str(uuid.uuid4())
                    self._set_state(conn, full_run_id=run_id, watermark=None)
                    watermark = None
                else:
                    watermark = state.watermark
            else:
                watermark = state.watermark
            self._set_state(conn, last_started_at=now, last_error=None)
        report = SyncReport(full=run_id is not None)
        until = now
        since = EPOCH if watermark is None else max(EPOCH, watermark - self.overlap)
        try:
            for page in self.client.iter_changed_cases(since, until, page_size=self.batch_size):
                self._point("page")
                for start in range(0, len(page), self.batch_size):
                    chunk = page[start : start + self.batch_size]
                    self._apply(chunk, run_id, report)
                    if on_progress is not None:
                        on_progress(len(chunk))
                if isinstance(page, CasePage) and page.complete_until is not None:
                    self._complete_until(page.complete_until)
            self._finish(run_id, until, report, started)
        except BaseException as exc:
            self._record_failure(exc)
            raise
        return report

    def _complete_until(self, moment: datetime) -> None:
        """Move the watermark to where the CRM says the read is complete (`CasePage`).

        For a CRM whose cases carry no modification time (the mapping's `modified_at` gives
        None), this is how a sync keeps its place part-way through a run: the connector marks
        the end of each time window it has read.
        """
        with self.store.write() as conn:
            state = self._state(conn)
            if state.watermark is None or moment > state.watermark:
                self._set_state(conn, watermark=moment)

    def _map(self, raw: RawCase) -> tuple[IndexedCase | None, MappingProblem | None]:
        """The mapped case, and the problem to record: a case that cannot be mapped has only a
        problem; one mapped without some of its timeline items has both (it is indexed, and
        the items left out are listed for the administrator)."""
        left_out: list[FieldProblem] = []
        try:
            case = self.mapping.to_caseload(raw, item_problems=left_out)
        except RecordMappingError as exc:
            return None, MappingProblem(
                crm_reference=exc.reference,
                field=", ".join(p.field for p in exc.problems)[:200] or "record",
                message=("; ".join(str(p) for p in exc.problems) or str(exc))[:1000],
            )
        except MappingError as exc:
            return None, MappingProblem(self.mapping.reference_of(raw), "record", str(exc)[:1000])
        indexed = IndexedCase(
            stable_portal_id(case, self.mapping.crm), self.mapping.modified_at(raw)
        )
        if not left_out or case.crm_reference is None:
            return indexed, None
        return indexed, MappingProblem(
            crm_reference=case.crm_reference,
            field=", ".join(p.field for p in left_out)[:200],
            message=("left out: " + "; ".join(str(p) for p in left_out))[:1000],
        )

    def _apply(self, page: list[RawCase], run_id: str | None, report: SyncReport) -> None:
        mapped: list[IndexedCase] = []
        problems: list[MappingProblem] = []  # not indexed
        partial: list[MappingProblem] = []  # indexed without some timeline items
        for raw in page:
            indexed, problem = self._map(raw)
            if indexed is not None:
                mapped.append(indexed)
                if problem is not None:
                    partial.append(problem)
            elif problem is not None:
                problems.append(problem)
        now = self.clock()
        with self.store.write() as conn:
            result = upsert_cases(conn, mapped, now=now, full_run=run_id)
            if run_id is not None and problems:
                # Still in the CRM, only unmappable: must not be reconciled as removed.
                mark_seen_in_full_run(conn, [p.crm_reference for p in problems], run_id)
            self._point("upserted")
            self._record_problems(conn, problems + partial, mapped, now)
            times = [item.crm_modified_at for item in mapped if item.crm_modified_at]
            if times:
                state = self._state(conn)
                newest = max(times)
                if state.watermark is None or newest > state.watermark:
                    # Only valid because pages come oldest first (CRMClient contract).
                    self._set_state(conn, watermark=newest)
        self._point("committed")
        report.fetched += len(page)
        report.upserts += result
        report.problems += len(problems) + len(partial)

    def _record_problems(
        self,
        conn: Connection,
        problems: list[MappingProblem],
        mapped: Iterable[IndexedCase],
        now: datetime,
    ) -> None:
        still = {p.crm_reference for p in problems}
        fixed = [
            i.case.crm_reference
            for i in mapped
            if i.case.crm_reference and i.case.crm_reference not in still
        ]
        resolve_problems(conn, fixed, now)
        if not problems:
            return
        refs = [p.crm_reference for p in problems]
        save_problems(conn, problems, now)
        record_event(
            conn,
            actor=SYNC_ACTOR,
            action="sync.mapping_failed",
            subject_type="sync",
            subject_id=None,
            detail={"crm_references": refs[:100], "count": len(problems)},
        )

    def _finish(
        self, run_id: str | None, until: datetime, report: SyncReport, started: float
    ) -> None:
        now = self.clock()
        with self.store.write() as conn:
            if run_id is not None:
                gone = remove_unseen(conn, run_id, reason=REMOVED_REASON, now=now)
                report.removed = len(gone)
                if gone:
                    record_event(
                        conn,
                        actor=SYNC_ACTOR,
                        action="sync.cases_removed",
                        subject_type="sync",
                        subject_id=None,
                        detail={"portal_ids": gone[:100], "count": len(gone)},
                    )
                self._point("reconciled")
            state = self._state(conn)
            watermark = until if state.watermark is None else max(state.watermark, until)
            report.seconds = time.perf_counter() - started
            report.watermark = watermark
            values: dict[str, Any] = {
                "watermark": watermark,
                "full_run_id": None,
                "last_finished_at": now,
                "last_count": report.fetched,
                "last_seconds": report.seconds,
                "last_error": None,
            }
            if run_id is not None:
                values["last_full_at"] = now
            self._set_state(conn, **values)
            record_event(
                conn,
                actor=SYNC_ACTOR,
                action="sync.full_completed" if run_id else "sync.completed",
                subject_type="sync",
                subject_id=None,
                detail={
                    "fetched": report.fetched,
                    "inserted": report.upserts.inserted,
                    "updated": report.upserts.updated,
                    "problems": report.problems,
                    "removed": report.removed,
                },
            )

    def _record_failure(self, exc: BaseException) -> None:
        try:
            with self.store.write() as conn:
                self._state(conn)
                self._set_state(conn, last_error=f"{type(exc).__name__}: {exc}"[:1000])
        except Exception:  # the store itself may be what failed; the original error matters
            log.warning("could not record the sync failure in the store", exc_info=True)

    # --------------------------------------------------------- single refresh
    def refresh_case(self, crm_reference: str, *, actor: str = SYNC_ACTOR) -> str:
        """Re-read one case from the CRM into the index (case-event pushes, "refresh" button).

        Returns "updated", "unchanged", "removed" or "problem". Does not move the watermark.
        """
        now = self.clock()
        try:
            raw = self.client.get_case(crm_reference)
        except CRMNotFound:
            with self.store.write() as conn:
                gone = remove_reference(conn, crm_reference, reason=REMOVED_REASON, now=now)
                if gone:
                    record_event(
                        conn,
                        actor=actor,
                        action="case.removed_in_crm",
                        subject_type="case",
                        subject_id=gone[0],
                        detail={"crm_reference": crm_reference},
                    )
            return "removed"
        indexed, problem = self._map(raw)
        with self.store.write() as conn:
            if indexed is None:
                self._record_problems(conn, [problem] if problem else [], [], now)
                return "problem"
            result = upsert_cases(conn, [indexed], now=now)
            self._record_problems(conn, [problem] if problem else [], [indexed], now)
        return "updated" if result.inserted or result.updated else "unchanged"


__all__ = ["EPOCH", "CaseMapping", "SyncReport", "Syncer"]
