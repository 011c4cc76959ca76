"""The store behind the web front: cases, accounts, audit and health read from `Store`.

Lists are filtered in SQL by the access policy's own clauses (`visible_cases_parts`, whose
union is `visible_cases_clause`, over `store.access_columns()`), and the buckets are the same
definitions as `repository.in_bucket`, written over the indexed columns, so the store and the
in-memory reference agree (tested in `tests/portal/test_store_adapters.py`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
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
    OutboxState,
    entries_for_case,
    queue_close,
    queue_create_case,
    queue_note,
    queue_reopen,
    queue_update_case,
)
from portal_extensions.status import collect_status
from portal_extensions.store import access_columns, record_event, search_cases
from portal_extensions.store.database import Store
from portal_extensions.store.schema import (
    cases,
    categories,
    members,
    officers,
    outbox,
    parties,
    services,
    user_roles,
    users,
)
from portal_extensions.web.attachments import CheckedFile
from portal_extensions.web.auth import Account
from portal_extensions.web.ports import (
    Choice,
    HealthCheck,
    MemberChoice,
    PartySearchUnavailable,
    PendingWrite,
    PortalAuditEvent,
    ServiceContact,
)
from portal_extensions.web.repository import (
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    summarise,
)
from portal_extensions.web.search import matches_visible, query_terms

log = logging.getLogger(__name__)

_CLOSED_OR_DRAFT = (CaseStatus.CLOSED.value, CaseStatus.DRAFT.value)


def _queued(portal_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """The case has a write the CRM has not confirmed yet."""
    return sa.exists().where(
        outbox.c.portal_id == portal_id, outbox.c.state != OutboxState.CONFIRMED.value
    )


def bucket_clause(
    bucket: Bucket, now: datetime, recently_closed_days: int
) -> sa.ColumnElement[bool]:
    """`repository.in_bucket`, over the index columns."""
    c = cases.c
    today = council_day(now)
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


def party_members(conn: sa.Connection, viewer: Viewer) -> frozenset[str] | None:
    """The members whose party in the directory is the viewer's party group (see
    `access.grants`); None when the viewer has no party grant."""
    if viewer.role is not Role.MEMBER or viewer.party_group is None:
        return None
    query = (
        sa.select(members.c.id)
        .select_from(members.join(parties, members.c.party_id == parties.c.id))
        .where(parties.c.name == viewer.party_group)
    )
    return frozenset(conn.execute(query).scalars())


class StoreCaseRepository:
    """`CaseRepository` over the store's case index."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.columns = access_columns()

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
    ) -> CaseListing:
        # The rule runs as a UNION ALL of its parts (`access.visible_cases_parts`, pairwise
        # disjoint), each answered from a covering index (migration 0002) without reading the
        # large case rows. Only the page's rows are read in full.
        with self.store.read() as conn:
            parts = visible_cases_parts(viewer, now, self.columns, party_members(conn, viewer))
            if not parts:
                return CaseListing(rows=[], counts=dict.fromkeys(Bucket, 0), total=0)
            scope: list[sa.ColumnElement[bool]] = [cases.c.removed_at.is_(None)]
            if ward_id is not None:
                scope.append(cases.c.ward_id == ward_id)
            # One row of bucket counts per part, added up here (the parts are disjoint).
            counting = sa.union_all(
                *(
                    sa.select(
                        *(
                            sa.func.coalesce(
                                sa.func.sum(
                                    sa.case(
                                        (bucket_clause(each, now, recently_closed_days), 1),
                                        else_=0,
                                    )
                                ),
                                0,
                            ).label(each.value)
                            for each in Bucket
                        )
                    ).where(part, *scope)
                    for part in parts
                )
            )
            newest = [
                sa.select(cases.c.portal_id, cases.c.received_at)
                .where(part, *scope, bucket_clause(bucket, now, recently_closed_days))
                .order_by(cases.c.received_at.desc(), cases.c.portal_id.desc())
                .limit(offset + limit)
                .subquery()
                for part in parts
            ]
            page = sa.union_all(
                *(sa.select(each.c.portal_id, each.c.received_at) for each in newest)
            ).subquery("page")
            rows_query = (
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
            counted = conn.execute(counting).all()
            rows = conn.execute(rows_query).all()
        counts = {each: sum(int(part._mapping[each.value]) for part in counted) for each in Bucket}
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
        )

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
        with self.store.read() as conn:
            user = conn.execute(
                sa.select(users).where(sa.func.lower(users.c.username) == username.lower())
            ).first()
            if user is None:
                return None
            grants = conn.execute(
                sa.select(user_roles.c.role_name, user_roles.c.acting_for_member_id).where(
                    user_roles.c.user_id == user.id
                )
            ).all()
            viewer = self._viewer(conn, user, grants)
        if viewer is None:
            return None
        return Account(
            username=user.username,
            display_name=user.display_name,
            password_hash=user.password_hash,
            viewer=viewer,
            active=bool(user.active),
        )

    def _viewer(
        self, conn: sa.Connection, user: sa.Row[Any], grants: Sequence[sa.Row[Any, Any]]
    ) -> Viewer | None:
        names = {grant.role_name for grant in grants}
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
                member = conn.execute(
                    sa.select(members.c.id, members.c.ward_id, parties.c.name.label("party"))
                    .select_from(members.join(parties, members.c.party_id == parties.c.id))
                    .where(members.c.id == user.member_id)
                ).first()
                if member is None:
                    raise ViewerError(f"user {user.username!r} has role 'member' but no member")
                return Viewer(
                    user.username,
                    role,
                    member_id=member.id,
                    party=member.party,
                    ward_id=member.ward_id,
                )
            if role is Role.MEMBERS_SERVICES:
                supported = frozenset(
                    g.acting_for_member_id for g in grants if g.acting_for_member_id
                )
                return Viewer(user.username, role, supported_member_ids=supported)
            if role is Role.SERVICE_OFFICER:
                service = conn.execute(
                    sa.select(officers.c.service_id).where(officers.c.id == user.officer_id)
                ).scalar_one_or_none()
                return Viewer(
                    user.username, role, service_ids=frozenset({service} if service else ())
                )
            return Viewer(user.username, role)
        except ViewerError as error:
            log.warning("user id %s cannot sign in: %s", user.id, error)
            return None


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
        with self.store.read() as conn:
            entries = entries_for_case(conn, str(portal_id))
        return [
            PendingWrite(entry.kind.value, entry.state.value, entry.actor, entry.created_at)
            for entry in entries
            if entry.state is not OutboxState.CONFIRMED
        ]


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
    """`DirectorySource` from the store's services and officers."""

    def __init__(self, store: Store) -> None:
        self.store = store

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
