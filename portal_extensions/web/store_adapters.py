"""The store behind the web front: cases, accounts, audit and health read from `Store`.

Lists are filtered in SQL by the access policy's own clauses (`visible_cases_parts`, whose
union is `visible_cases_clause`, over `store.access_columns()`), and the buckets are the same
definitions as `repository.in_bucket`, written over the indexed columns, so the store and the
in-memory reference agree (tested in `tests/portal/test_store_adapters.py`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from connector.base import Attachment, CRMClient, RawParty
from connector.errors import CRMError, CRMNotFound
from mappings.errors import MappingError
from mappings.model import COUNCIL_ZONE, CaseStatus, Constituent, MemberCase
from portal_extensions.access import (
    CaseFacts,
    Fact,
    Role,
    Viewer,
    ViewerError,
    council_day,
    visible_cases_clause,
    visible_cases_parts,
)
from portal_extensions.outbox import (
    NotePayload,
    OutboxState,
    WriteKind,
    queue_close,
    queue_create_case,
    queue_note,
    queue_reopen,
    queue_update_case,
)
from portal_extensions.status import collect_status
from portal_extensions.store import access_columns, cases_counter, record_event, search_cases
from portal_extensions.store.accounts import Account
from portal_extensions.store.audit import PortalAuditEvent
from portal_extensions.store.case_types import (
    WHOSE_REASONS,
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
    summarise,
)
from portal_extensions.store.case_writes import (
    CheckedFile,
    PendingWrite,
    QueuedFile,
    queued_file_id,
    split_queued_file_id,
)
from portal_extensions.store.database import Store
from portal_extensions.store.directory import Choice, DirectoryNames, MemberChoice, ServiceContact
from portal_extensions.store.health import HealthCheck
from portal_extensions.store.schema import (
    cases,
    categories,
    members,
    officers,
    outbox,
    parties,
    portal_sessions,
    services,
    user_roles,
    users,
    wards,
)
from portal_extensions.store.search import matches_visible, query_terms
from portal_extensions.web.ports import PartySearchUnavailable

log = logging.getLogger(__name__)

_CLOSED_OR_DRAFT = (CaseStatus.CLOSED.value, CaseStatus.DRAFT.value)


def _queued(portal_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The case has a write the CRM has not confirmed yet."""
    return sa.exists().where(
        outbox.c.portal_id == portal_id, outbox.c.state != OutboxState.CONFIRMED.value
    )


def bucket_clause(bucket: Bucket, today: date, recently_closed_days: int) -> sa.ColumnElement[bool]:
    """`repository.in_bucket`, over the index columns, on the council's day `today`."""
    c = cases.c
    is_open = c.status.not_in(_CLOSED_OR_DRAFT)
    if bucket is Bucket.OPEN:
        return is_open
    if bucket is Bucket.OVERDUE:
        return sa.and_(is_open, c.target_date < today)
    if bucket is Bucket.AWAITING_SERVICE:
        return c.status == CaseStatus.WITH_SERVICE.value
    first_day = today - timedelta(days=recently_closed_days)
    since = datetime.combine(first_day, time(0), tzinfo=COUNCIL_ZONE)
    return sa.and_(c.status == CaseStatus.CLOSED.value, c.closed_at >= since)


_PARTY_MEMBERS = (
    sa.select(members.c.id)
    .select_from(members.join(parties, members.c.party_id == parties.c.id))
    .where(parties.c.name == sa.bindparam("party"))
)


def party_members(conn: sa.Connection, viewer: Viewer) -> frozenset[str] | None:
    """The members whose party in the directory is the viewer's party group (see
    `access.grants`); None when the viewer has no party grant."""
    if viewer.role is not Role.MEMBER or viewer.party_group is None:
        return None
    return frozenset(conn.execute(_PARTY_MEMBERS, {"party": viewer.party_group}).scalars())


_HELD_COUNTS = 4096


@dataclass(frozen=True, slots=True)
class _ListQueries:
    counting: sa.CompoundSelect[Any]
    rows: sa.Select[Any]


def _scope(ward_id: str | None) -> list[sa.ColumnElement[bool]]:
    scope: list[sa.ColumnElement[bool]] = [cases.c.removed_at.is_(None)]
    if ward_id is not None:
        scope.append(cases.c.ward_id == ward_id)
    return scope


def _parts(
    viewer: Viewer, party: frozenset[str] | None, today: date, whose: Whose
) -> list[sa.ColumnElement[bool]]:
    noon = datetime.combine(today, time(12), tzinfo=COUNCIL_ZONE)
    return visible_cases_parts(viewer, noon, access_columns(), party, WHOSE_REASONS[whose])


@functools.lru_cache(maxsize=1024)
def _counting(
    viewer: Viewer,
    party: frozenset[str] | None,
    today: date,
    recently_closed_days: int,
    ward_id: str | None,
    whose: Whose,
) -> sa.CompoundSelect[Any] | None:
    """A list's bucket counts as one statement, built once per viewer, day, scope and `whose`
    (not per bucket or page, so every tab and page of a list, and the count of it shown from
    another list, share one statement and so one entry of the held counts). One row of counts
    per access part, added up by the caller (the parts are disjoint). None when the viewer
    sees no case of this kind."""
    parts = _parts(viewer, party, today, whose)
    if not parts:
        return None
    scope = _scope(ward_id)
    return sa.union_all(
        *(
            sa.select(
                *(
                    sa.func.coalesce(
                        sa.func.sum(
                            sa.case((bucket_clause(each, today, recently_closed_days), 1), else_=0)
                        ),
                        0,
                    ).label(each.value)
                    for each in Bucket
                )
            ).where(part, *scope)
            for part in parts
        )
    )


@functools.lru_cache(maxsize=1024)
def _list_queries(
    viewer: Viewer,
    party: frozenset[str] | None,
    today: date,
    bucket: Bucket,
    limit: int,
    offset: int,
    recently_closed_days: int,
    ward_id: str | None,
    whose: Whose = Whose.ALL,
) -> _ListQueries | None:
    """A list's two statements, built once per viewer, day and page and then reused: building
    SQLAlchemy expressions costs more than running them on a covering index.

    The rule runs as a UNION ALL of its parts (`access.visible_cases_parts`, pairwise disjoint,
    only those `whose` asks for), each answered from a covering index (migration 0002) without
    reading the large case rows; only the page's rows are read in full. The access rule and the
    buckets depend on the council's day, not the time of day (`tests/portal/test_store_adapters.py`
    holds that), so the day is part of the key. None when the viewer sees no case of this kind.
    """
    counting = _counting(viewer, party, today, recently_closed_days, ward_id, whose)
    if counting is None:
        return None
    parts = _parts(viewer, party, today, whose)
    scope = _scope(ward_id)
    newest = [
        sa.select(cases.c.portal_id, cases.c.received_at)
        .where(part, *scope, bucket_clause(bucket, today, recently_closed_days))
        .order_by(cases.c.received_at.desc(), cases.c.portal_id.desc())
        .limit(offset + limit)
        .subquery()
        for part in parts
    ]
    page = sa.union_all(
        *(sa.select(each.c.portal_id, each.c.received_at) for each in newest)
    ).subquery("page")
    rows = (
        sa.select(
            cases.c.portal_id,
            cases.c.crm_reference,
            cases.c.title,
            cases.c.member_id,
            cases.c.status,
            cases.c.received_at,
            cases.c.target_date,
            _queued(cases.c.portal_id).label("queued"),
        )
        .select_from(page.join(cases, cases.c.portal_id == page.c.portal_id))
        .order_by(page.c.received_at.desc(), page.c.portal_id.desc())
        .limit(limit)
        .offset(offset)
    )
    return _ListQueries(counting, rows)


_NO_COUNTS = dict.fromkeys(Bucket, 0)


class StoreCaseRepository:
    """`CaseRepository` over the store's case index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.columns = access_columns()
        # Keyed by the cached counting statement itself (one per viewer, day, scope, whose).
        self._held_counts: dict[sa.CompoundSelect[Any], tuple[int, dict[Bucket, int]]] = {}
        self._lock = threading.Lock()

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        query = sa.select(
            cases.c.record,
            self.columns[Fact.MEMBER_PARTY].label("member_party"),
            _queued(cases.c.portal_id).label("queued"),
        ).where(cases.c.portal_id == str(portal_id), cases.c.removed_at.is_(None))
        with self.store.read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        case = MemberCase.model_validate(row.record)
        return StoredCase(case, CaseFacts.from_case(case, row.member_party), bool(row.queued))

    def list_visible(
        self,
        viewer: Viewer,
        now: datetime,
        bucket: Bucket,
        *,
        limit: int,
        offset: int = 0,
        recently_closed_days: int = 30,
        ward_id: str | None = None,
        whose: Whose = Whose.ALL,
        also_count: Collection[Whose] = (),
    ) -> CaseListing:
        today = council_day(now)
        with self.store.read() as conn:
            # Only the party grant reads the party's members, and only `Whose.ALL` has it.
            wanted = {whose, *also_count}
            party = party_members(conn, viewer) if Whose.ALL in wanted else None
            # Read once, before any count, so every count of this request is kept under it.
            counter = cases_counter(conn)

            def party_for(chosen: Whose) -> frozenset[str] | None:
                return party if chosen is Whose.ALL else None

            other_counts = {
                other: self._counts(
                    conn,
                    _counting(
                        viewer,
                        party_for(other),
                        today,
                        recently_closed_days,
                        ward_id,
                        other,
                    ),
                    counter,
                )
                for other in also_count
            }
            queries = _list_queries(
                viewer,
                party_for(whose),
                today,
                bucket,
                limit,
                offset,
                recently_closed_days,
                ward_id,
                whose,
            )
            if queries is None:
                return CaseListing(
                    rows=[], counts=dict(_NO_COUNTS), total=0, other_counts=other_counts
                )
            counts = self._counts(conn, queries.counting, counter)
            rows = conn.execute(queries.rows).all()
        return CaseListing(
            rows=[
                CaseSummary(
                    portal_id=uuid.UUID(row.portal_id),
                    crm_reference=row.crm_reference,
                    title=row.title,
                    member_id=row.member_id,
                    status=CaseStatus(row.status),
                    received_at=row.received_at,
                    target_date=row.target_date,
                    queued=bool(row.queued),
                )
                for row in rows
            ],
            counts=counts,
            total=counts[bucket],
            other_counts=other_counts,
        )

    def _counts(
        self, conn: sa.Connection, counting: sa.CompoundSelect[Any] | None, counter: int
    ) -> dict[Bucket, int]:
        """A list's bucket counts, reused while the case index is unchanged: `counter` was read
        before any count, in the same transaction, so counts are never older than the counter
        they are kept under."""
        if counting is None:
            return dict(_NO_COUNTS)
        held = self._held_counts.get(counting)
        if held is not None and held[0] == counter:
            return held[1]
        counted = conn.execute(counting).all()
        counts = {each: sum(int(part._mapping[each.value]) for part in counted) for each in Bucket}
        with self._lock:
            if len(self._held_counts) >= _HELD_COUNTS:
                self._held_counts.clear()
            self._held_counts[counting] = (counter, counts)
        return counts

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        """Narrowed in SQL (name part, whole email, postcode in the address), then the caller
        applies `lookup.resident_matches` to what the viewer may see."""
        wanted = " ".join(text.casefold().split())
        if len(wanted) < 2:
            return []
        escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        squashed = escaped.replace(" ", "")
        email = sa.func.lower(cases.c.record[("constituent", "email")].as_string())
        query = (
            sa.select(cases.c.portal_id)
            .where(
                visible_cases_clause(viewer, now, self.columns),
                cases.c.removed_at.is_(None),
                sa.or_(
                    sa.func.lower(cases.c.constituent_name).like(f"%{escaped}%", escape="\\"),
                    email == wanted,
                    sa.func.replace(sa.func.lower(cases.c.address_text), " ", "").like(
                        f"%{squashed}%", escape="\\"
                    ),
                ),
            )
            .order_by(cases.c.received_at.desc(), cases.c.portal_id.desc())
            .limit(limit)
        )
        with self.store.read() as conn:
            ids = list(conn.execute(query).scalars())
        found = [self.get(uuid.UUID(portal_id)) for portal_id in ids]
        return [stored for stored in found if stored is not None]

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        terms = query_terms(text)
        if not terms:
            return []
        where = visible_cases_clause(viewer, now, self.columns)
        found: list[CaseSummary] = []
        offset = 0
        # Over-fetch: some index hits match only through fields this viewer may not see.
        while len(found) < limit and offset < limit * 10:
            with self.store.read() as conn:
                hits = search_cases(conn, text, where=where, limit=limit * 2, offset=offset)
            if not hits:
                break
            offset += len(hits)
            for hit in hits:
                stored = self.get(uuid.UUID(hit.portal_id))
                if stored is not None and matches_visible(viewer, stored, terms, now):
                    found.append(summarise(stored))
                    if len(found) == limit:
                        break
        return found


class StoreAccounts:
    """`Accounts` over the store's users and user_roles tables.

    The user name is the user id (it is what the audit trail shows). A user needs exactly one
    role; members' services staff have one `members_services` row per supported member, naming
    it in `acting_for_member_id`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def by_user_id(self, user_id: str) -> Account | None:
        return self.by_username(user_id)

    def by_username(self, username: str) -> Account | None:
        # One round trip, asked on every request: a row per role grant, each carrying the user
        # and what their role links to (member, ward and party; officer's service).
        with self.store.read() as conn:
            rows = conn.execute(_ACCOUNT_ROWS, {"username": username.lower()}).all()
        if not rows:
            return None
        user = rows[0]
        viewer = self._viewer(user, rows)
        if viewer is None:
            return None
        return Account(
            username=user.username,
            display_name=user.display_name,
            password_hash=user.password_hash,
            viewer=viewer,
            active=bool(user.active),
        )

    def _viewer(self, user: Any, grants: Sequence[Any]) -> Viewer | None:
        # Rows of `_ACCOUNT_ROWS`.
        names = {grant.role_name for grant in grants if grant.role_name is not None}
        if len(names) != 1:
            log.warning(
                "user id %s has %d roles; a user needs exactly one, so sign-in is refused",
                user.id,
                len(names),
            )
            return None
        try:
            role = Role(names.pop())
        except ValueError:
            log.warning("user id %s has a role the portal does not know", user.id)
            return None
        try:
            if role is Role.MEMBER:
                if user.linked_member_id is None:
                    raise ViewerError(f"user {user.username!r} has role 'member' but no member")
                return Viewer(
                    user.username,
                    role,
                    member_id=user.linked_member_id,
                    party=user.member_party,
                    ward_id=user.member_ward_id,
                )
            if role is Role.MEMBERS_SERVICES:
                supported = frozenset(
                    g.acting_for_member_id for g in grants if g.acting_for_member_id
                )
                return Viewer(user.username, role, supported_member_ids=supported)
            if role is Role.SERVICE_OFFICER:
                service = user.officer_service_id
                return Viewer(
                    user.username, role, service_ids=frozenset({service} if service else ())
                )
            return Viewer(user.username, role)
        except ViewerError as error:
            log.warning("user id %s cannot sign in: %s", user.id, error)
            return None


_ACCOUNT_ROWS = (
    sa.select(
        users.c.id,
        users.c.username,
        users.c.display_name,
        users.c.password_hash,
        users.c.active,
        user_roles.c.role_name,
        user_roles.c.acting_for_member_id,
        members.c.id.label("linked_member_id"),
        members.c.ward_id.label("member_ward_id"),
        parties.c.name.label("member_party"),
        officers.c.service_id.label("officer_service_id"),
    )
    .select_from(
        users.outerjoin(user_roles, user_roles.c.user_id == users.c.id)
        .outerjoin(members, members.c.id == users.c.member_id)
        .outerjoin(parties, parties.c.id == members.c.party_id)
        .outerjoin(officers, officers.c.id == users.c.officer_id)
    )
    .where(sa.func.lower(users.c.username) == sa.bindparam("username"))
)
"""A user's account in one statement, built once (the sign-in check runs on every request)."""


def _session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


_LIVE_SESSION = sa.select(portal_sessions.c.user_id, portal_sessions.c.expires_at).where(
    portal_sessions.c.token_hash == sa.bindparam("token_hash")
)


class StoreSessionRegistry:
    """`SessionRegistry` in the store's `portal_sessions` table, shared by every worker process
    of the portal (and surviving a restart). Only a SHA-256 of each session id is stored.
    Expired rows are removed whenever someone signs in."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.store = store
        self.clock = clock

    def issue(self, user_id: str, lifetime_seconds: float) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(sa.delete(portal_sessions).where(portal_sessions.c.expires_at <= now))
            conn.execute(
                sa.insert(portal_sessions).values(
                    token_hash=_session_digest(session_id),
                    user_id=user_id,
                    issued_at=now,
                    expires_at=now + timedelta(seconds=lifetime_seconds),
                )
            )
        return session_id

    def is_live(self, session_id: str, user_id: str) -> bool:
        with self.store.read() as conn:
            row = conn.execute(_LIVE_SESSION, {"token_hash": _session_digest(session_id)}).first()
        return row is not None and row.user_id == user_id and row.expires_at > self.clock()

    def revoke(self, session_id: str) -> None:
        with self.store.write() as conn:
            conn.execute(
                sa.delete(portal_sessions).where(
                    portal_sessions.c.token_hash == _session_digest(session_id)
                )
            )


class StoreAuditTrail:
    """`AuditTrail` writing to the store's append-only audit table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, event: PortalAuditEvent) -> None:
        with self.store.write() as conn:
            record_event(
                conn,
                actor=event.actor,
                action=event.action,
                subject_type=event.subject_type,
                subject_id=event.subject_id,
                detail={"outcome": event.outcome.value},
                on_behalf_of=event.on_behalf_of,
                at=event.at,
            )


class StoreHealth:
    """`HealthSource`: the CRM (when a client is given), last sync, mapping problems, the
    outbox backlog and the index size, from the store's status report."""

    def __init__(self, store: Store, client: CRMClient | None = None) -> None:
        self.store = store
        self.client = client

    def __call__(self) -> Sequence[HealthCheck]:
        try:
            report = collect_status(self.store, self.client)
            crm_failure = None
        except CRMError as error:  # names the CRM and operation, never bodies or secrets
            report = collect_status(self.store)
            crm_failure = str(error)
        sync = report.sync
        attention = report.outbox.get(OutboxState.NEEDS_ATTENTION.value, 0)
        waiting = report.outbox.get(OutboxState.QUEUED.value, 0) + report.outbox.get(
            OutboxState.SENT.value, 0
        )
        last_sync = (
            f"finished {sync.last_finished_at:%d %B %Y at %H:%M} UTC"
            if sync.last_finished_at
            else "no sync has finished yet"
        )
        if crm_failure is not None:
            crm = HealthCheck("CRM reachable", False, crm_failure)
        elif report.crm is None:
            crm = HealthCheck(
                "CRM reachable", False, "no CRM is configured ([crm] in caseload.toml)"
            )
        else:
            details = "; ".join(
                f"{check.get('name')}: {check.get('detail', '')}".strip()
                for check in report.crm.checks
            )
            crm = HealthCheck("CRM reachable", report.crm.ok, details or "answered")
        return [
            crm,
            HealthCheck(
                "Last sync from the CRM",
                sync.last_finished_at is not None and sync.last_error is None,
                last_sync
                + (f"; the last run failed: {sync.last_error}" if sync.last_error else ""),
            ),
            HealthCheck(
                "CRM cases that could not be read",
                sync.open_problems == 0,
                f"{sync.open_problems} (see `caseload status`)",
            ),
            HealthCheck(
                "Writes waiting for the CRM",
                attention == 0,
                f"{waiting} waiting, {attention} need attention",
            ),
            HealthCheck("Case index", True, f"{report.index_size} cases"),
        ]


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
        with self.store.write() as conn:
            return queue_close(conn, str(portal_id), reason, actor=actor, on_behalf_of=on_behalf_of)

    def reopen(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        with self.store.write() as conn:
            return queue_reopen(
                conn, str(portal_id), reason, actor=actor, on_behalf_of=on_behalf_of
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


_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$", re.IGNORECASE)


class CRMPartySource:
    """`PartySource` over the connector's party search. The text decides the criterion (an
    email address, a postcode, else a surname); `to_constituent` is the CRM profile's party
    mapping (field translation stays in `mappings`)."""

    def __init__(
        self, client: CRMClient, to_constituent: Callable[[RawParty], Constituent]
    ) -> None:
        self.client = client
        self.to_constituent = to_constituent

    def find_people(self, text: str, *, limit: int) -> list[Constituent]:
        wanted = " ".join(text.split())
        if not wanted:
            return []
        if "@" in wanted:
            criteria = {"email": wanted}
        elif _POSTCODE.match(wanted):
            criteria = {"postcode": wanted.upper()}
        else:
            criteria = {"name": wanted}
        try:
            raw = self.client.search_parties(**criteria, limit=limit)
        except CRMError as error:  # names the CRM and operation, never the words searched
            log.warning("the resident look-up could not search the CRM: %s", error)
            raise PartySearchUnavailable from None
        people: list[Constituent] = []
        for record in raw:
            try:
                people.append(self.to_constituent(record))
            except (MappingError, ValidationError):
                log.warning("a CRM party could not be mapped for the resident look-up; skipped")
        return people


class CRMAttachmentSource:
    """`AttachmentSource` from the CRM's document store, through the connector."""

    def __init__(self, client: CRMClient) -> None:
        self.client = client

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None:
        try:
            return self.client.get_attachment(document_id).content
        except CRMNotFound:
            return None


class StoreEnquiryOptions:
    """`EnquiryOptions` from the store's code book (categories) and directory."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def categories(self) -> list[Choice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(categories.c.code, categories.c.name).order_by(categories.c.name)
            ).all()
        return [Choice(row.code, row.name) for row in rows]

    def services(self) -> list[Choice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(services.c.id, services.c.name).order_by(services.c.name)
            ).all()
        return [Choice(row.id, row.name) for row in rows]

    def members(self) -> list[MemberChoice]:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(members.c.id, members.c.name, members.c.ward_id).order_by(members.c.name)
            ).all()
        return [MemberChoice(row.id, row.name, row.ward_id) for row in rows]


class StoreDirectory:
    """`DirectorySource` from the store's services and officers.

    `names()` is cached for `names_ttl_seconds` (a minute by default) rather than invalidated by
    the directory import: the import may run in another process (`caseload` commands, another
    worker), which an in-process invalidation would not reach, and the directory changes a few
    times a year, so a renamed ward showing its old name for up to a minute is harmless. Each
    request then costs a dict lookup per row, never a query. `forget_names()` drops the cache.
    """

    def __init__(
        self,
        store: Store,
        *,
        names_ttl_seconds: float = 60.0,
        clock: Callable[[], float] = monotonic,
    ) -> None:
        self.store = store
        self.names_ttl_seconds = names_ttl_seconds
        self.clock = clock
        self._names: tuple[float, DirectoryNames] | None = None
        self._names_lock = threading.Lock()

    def names(self) -> DirectoryNames:
        cached = self._names
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        with self._names_lock:  # one reader refreshes; the others wait for its answer
            cached = self._names
            if cached is not None and cached[0] > self.clock():
                return cached[1]
            with self.store.read() as conn:
                names = DirectoryNames(
                    members=_pairs(conn, members.c.id, members.c.name),
                    wards=_pairs(conn, wards.c.id, wards.c.name),
                    services=_pairs(conn, services.c.id, services.c.name),
                    categories=_pairs(conn, categories.c.code, categories.c.name),
                )
            self._names = (self.clock() + self.names_ttl_seconds, names)
            return names

    def forget_names(self) -> None:
        self._names = None

    def service_contacts(self) -> list[ServiceContact]:
        query = (
            sa.select(
                services.c.id.label("service_id"),
                officers.c.id.label("officer_id"),
                services.c.name.label("service"),
                officers.c.name.label("officer"),
                officers.c.email,
                officers.c.phone,
                services.c.response_target_working_days,
            )
            .select_from(services.join(officers, services.c.member_officer_id == officers.c.id))
            .order_by(services.c.name)
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return [
            ServiceContact(
                row.service,
                row.officer,
                row.email,
                row.phone,
                row.response_target_working_days,
                service_id=row.service_id,
                officer_id=row.officer_id,
            )
            for row in rows
        ]


def _pairs(conn: sa.Connection, key: sa.Column[str], name: sa.Column[str]) -> dict[str, str]:
    return {row[0]: row[1] for row in conn.execute(sa.select(key, name))}


def _decoded_size(b64: str) -> int:
    """The size of base64 content without decoding it."""
    return len(b64) * 3 // 4 - (2 if b64.endswith("==") else 1 if b64.endswith("=") else 0)
