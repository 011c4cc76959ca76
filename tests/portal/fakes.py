"""In-memory stand-ins for the portal's ports (`portal_extensions.casework.ports`), for tests.

Production code never uses these: the store and the connector implement the ports. Each fake
keeps the port's promises in the simplest way, and `MemoryCaseRepository` is the reference
the store's viewer-filtered reads are checked against.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mappings.model import Constituent, MemberCase
from portal_extensions.access import (
    AnyOf,
    Viewer,
    council_day,
    holds,
    visibility,
    visibility_parts,
)
from portal_extensions.casework.lookup import resident_matches
from portal_extensions.casework.ports import AuditTrail, PartyQuery
from portal_extensions.store.accounts import Account
from portal_extensions.store.audit import Outcome, PortalAuditEvent
from portal_extensions.store.case_types import (
    WHOSE_REASONS,
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
    in_bucket,
    summarise,
)
from portal_extensions.store.case_writes import (
    SHOWN_TEXT_KINDS,
    CheckedFile,
    PendingWrite,
    QueuedFile,
    queued_file_id,
)
from portal_extensions.store.directory import Choice, DirectoryNames, MemberChoice, ServiceContact
from portal_extensions.store.search import matches_visible, query_terms, reference_forms
from portal_extensions.store.sign_in_failures import Failures


class MemoryAuditTrail:
    """Keeps events in a list."""

    def __init__(self) -> None:
        self.events: list[PortalAuditEvent] = []

    def record(self, event: PortalAuditEvent) -> None:
        self.events.append(event)


class MemorySessionRegistry:
    """Live sessions in this process's memory: a restart signs everyone out, and a deployment
    with several worker processes needs a shared registry (the store's) instead."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._live: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str, lifetime_seconds: float) -> str:
        session_id = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            for known, (_, expires) in list(self._live.items()):
                if expires <= now:
                    del self._live[known]
            self._live[session_id] = (user_id, now + lifetime_seconds)
        return session_id

    def is_live(self, session_id: str, user_id: str) -> bool:
        with self._lock:
            entry = self._live.get(session_id)
        return entry is not None and entry[0] == user_id and entry[1] > self._clock()

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(session_id, None)


class MemorySignInFailures:
    """Failed sign-in counters in this process's memory (the store's `StoreSignInFailures`
    shares them between processes)."""

    def __init__(self) -> None:
        self.counters: dict[str, Failures] = {}

    def recent(self, keys: Sequence[str], since: datetime) -> dict[str, Failures]:
        found = {key: self.counters.get(key) for key in keys}
        return {key: f for key, f in found.items() if f is not None and f.last_at > since}

    def add(self, keys: Sequence[str], now: datetime, since: datetime) -> None:
        for key in keys:
            before = self.recent([key], since).get(key)
            self.counters[key] = Failures((before.count if before else 0) + 1, now)

    def clear(self, key: str) -> None:
        self.counters.pop(key, None)


class MemoryCaseWrites:
    """Queued writes in memory; `created`/`updated` let a test re-index what is written."""

    def __init__(
        self,
        audit: AuditTrail,
        clock: Callable[[], datetime],
        created: Callable[[MemberCase], None] | None = None,
        updated: Callable[[MemberCase], None] | None = None,
    ) -> None:
        self.audit = audit
        self.clock = clock
        self.created = created  # told of each new case, e.g. to index it as queued
        self.updated = updated  # told of each changed case, to re-index it at once
        self.writes: dict[uuid.UUID, list[tuple[str, PendingWrite]]] = {}
        self.files: dict[uuid.UUID, list[CheckedFile]] = {}
        self.queued_files: dict[tuple[uuid.UUID, str], tuple[PendingWrite, CheckedFile]] = {}

    def create_case(self, case: MemberCase, *, actor: str, on_behalf_of: str | None) -> str:
        if self.created is not None:
            self.created(case)
        return self._queue("create_case", case.portal_id, case.title, actor, on_behalf_of)

    def update_case(
        self, case: MemberCase, *, change: str, actor: str, on_behalf_of: str | None
    ) -> str:
        if self.updated is not None:
            self.updated(case)
        key = self._queue("update_case", case.portal_id, case.title, actor, on_behalf_of)
        self.audit.record(
            PortalAuditEvent(
                at=self.clock(),
                actor=actor,
                action=change,
                subject_type="case",
                subject_id=str(case.portal_id),
                outcome=Outcome.ALLOWED,
                on_behalf_of=on_behalf_of,
            )
        )
        return key

    def _queue(
        self,
        kind: str,
        portal_id: uuid.UUID,
        text: str,
        actor: str,
        on_behalf_of: str | None,
        files: Sequence[CheckedFile] = (),
    ) -> str:
        now = self.clock()
        key = str(uuid.uuid4())
        write = PendingWrite(
            kind,
            "queued",
            actor,
            now,
            key=key,
            text=text if kind in SHOWN_TEXT_KINDS else None,
            files=tuple(
                QueuedFile(queued_file_id(key, n), f.name, f.media_type, len(f.content))
                for n, f in enumerate(files)
            ),
        )
        self.writes.setdefault(portal_id, []).append((text, write))
        for queued, checked in zip(write.files, files, strict=True):
            self.queued_files[(portal_id, queued.file_id)] = (write, checked)
        self.audit.record(
            PortalAuditEvent(
                at=now,
                actor=actor,
                action=kind,
                subject_type="case",
                subject_id=str(portal_id),
                outcome=Outcome.ALLOWED,
                on_behalf_of=on_behalf_of,
            )
        )
        return key

    def add_note(
        self, portal_id: uuid.UUID, text: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        return self._queue("add_note", portal_id, text, actor, on_behalf_of)

    def attach(
        self,
        portal_id: uuid.UUID,
        text: str,
        files: Sequence[CheckedFile],
        *,
        actor: str,
        on_behalf_of: str | None,
    ) -> str:
        self.files.setdefault(portal_id, []).extend(files)
        return self._queue("attach", portal_id, text, actor, on_behalf_of, files)

    def close(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        return self._queue("close_case", portal_id, reason, actor, on_behalf_of)

    def reopen(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str:
        return self._queue("reopen_case", portal_id, reason, actor, on_behalf_of)

    def respond(self, case: MemberCase, text: str, *, actor: str) -> str:
        key = self._queue("service_response", case.portal_id, text, actor, None)
        self.update_case(case, change="respond", actor=actor, on_behalf_of=None)
        return key

    def pending(self, portal_id: uuid.UUID) -> list[PendingWrite]:
        return [write for _, write in self.writes.get(portal_id, [])]

    def queued_file(
        self, portal_id: uuid.UUID, file_id: str
    ) -> tuple[PendingWrite, CheckedFile] | None:
        return self.queued_files.get((portal_id, file_id))


@dataclass
class MemoryPartySource:
    people: list[Constituent]

    def find_people(self, query: PartyQuery, *, limit: int) -> list[Constituent]:
        """Like both connectors' party searches: every given criterion matches exactly (case
        and spaces ignored)."""

        def same(wanted: str | None, held: str | None) -> bool:
            squash = "".join((held or "").casefold().split())
            return wanted is None or "".join(wanted.casefold().split()) == squash

        found = [
            person
            for person in self.people
            if same(query.surname, person.surname)
            and same(query.forename, person.forename)
            and same(query.email, person.email)
            and same(query.postcode, person.location.postcode)
        ]
        return found[:limit]


@dataclass
class MemoryAttachmentSource:
    files: dict[tuple[uuid.UUID, str], bytes]

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None:
        return self.files.get((case.portal_id, document_id))


@dataclass
class MemoryEnquiryOptions:
    category_choices: list[Choice]
    service_choices: list[Choice]
    member_choices: list[MemberChoice]

    def categories(self) -> list[Choice]:
        return list(self.category_choices)

    def services(self) -> list[Choice]:
        return list(self.service_choices)

    def members(self) -> list[MemberChoice]:
        return list(self.member_choices)


@dataclass
class MemoryDirectory:
    """The directory in memory; `known` holds the names of members, wards and categories
    (service names come from the contacts)."""

    contacts: list[ServiceContact]
    known: DirectoryNames = field(default_factory=DirectoryNames)

    def service_contacts(self) -> list[ServiceContact]:
        return sorted(self.contacts, key=lambda contact: contact.service.casefold())

    def names(self) -> DirectoryNames:
        services = {c.service_id: c.service for c in self.contacts if c.service_id}
        return DirectoryNames(
            members=self.known.members,
            wards=self.known.wards,
            services={**self.known.services, **services},
            categories=self.known.categories,
        )


class MemoryCaseRepository:
    """Cases held in memory, filtered by the access policy's Python form."""

    def __init__(self, cases: Iterable[StoredCase] = ()) -> None:
        self._cases: dict[uuid.UUID, StoredCase] = {}
        for stored in cases:
            self.put(stored)

    def put(self, stored: StoredCase) -> None:
        self._cases[stored.case.portal_id] = stored

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        return self._cases.get(portal_id)

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

        def visible_of(chosen: Whose) -> list[StoredCase]:
            reasons = WHOSE_REASONS[chosen]
            rule = (
                visibility(viewer, now)
                if reasons is None
                else AnyOf(visibility_parts(viewer, now, reasons=reasons))
            )
            return [
                stored
                for stored in self._cases.values()
                if holds(rule, stored.facts) and ward_id in (None, stored.case.ward_id)
            ]

        def counts_of(cases: list[StoredCase]) -> dict[Bucket, int]:
            return {
                each: sum(in_bucket(s.case, each, today, recently_closed_days) for s in cases)
                for each in Bucket
            }

        visible = visible_of(whose)
        chosen = sorted(
            (s for s in visible if in_bucket(s.case, bucket, today, recently_closed_days)),
            key=lambda s: (s.case.received_at, str(s.case.portal_id)),
            reverse=True,
        )
        page = [summarise(s) for s in chosen[offset : offset + limit]]
        return CaseListing(
            rows=page,
            counts=counts_of(visible),
            total=len(chosen),
            other_counts={other: counts_of(visible_of(other)) for other in also_count},
        )

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        rule = visibility(viewer, now)
        hits = [
            stored
            for stored in self._cases.values()
            if holds(rule, stored.facts)
            and resident_matches(stored.case.constituent, stored.case, text)
        ]
        hits.sort(key=lambda s: (s.case.received_at, str(s.case.portal_id)), reverse=True)
        return hits[:limit]

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        terms = query_terms(text)
        rule = visibility(viewer, now)
        references = reference_forms(text)
        visible = [stored for stored in self._cases.values() if holds(rule, stored.facts)]
        by_reference = [s for s in visible if s.case.crm_reference in references]
        hits = [
            stored
            for stored in visible
            if stored not in by_reference and matches_visible(viewer, stored, terms, now)
        ]
        hits.sort(key=lambda s: (s.case.received_at, str(s.case.portal_id)), reverse=True)
        return [summarise(s) for s in (by_reference + hits)[:limit]]


class AccountBook:
    """Accounts held in memory."""

    def __init__(self, accounts: Iterable[Account] = ()) -> None:
        self._by_name: dict[str, Account] = {}
        self._by_id: dict[str, Account] = {}
        for account in accounts:
            self.add(account)

    def add(self, account: Account) -> None:
        self._by_name[account.username.casefold()] = account
        self._by_id[account.viewer.user_id] = account

    def by_username(self, username: str) -> Account | None:
        return self._by_name.get(username.casefold())

    def by_user_id(self, user_id: str) -> Account | None:
        return self._by_id.get(user_id)
