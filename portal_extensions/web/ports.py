"""The other interfaces the web front needs from the rest of the portal: audit and health.

Small protocols so the store (audit trail table) and the connector/outbox/sync (health) plug in
without the web front importing them; in-memory versions serve the tests and the early demo.
"""

from __future__ import annotations

import secrets
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from mappings.model import Constituent, MemberCase
from portal_extensions.store.audit import Outcome, PortalAuditEvent
from portal_extensions.store.case_writes import (
    SHOWN_TEXT_KINDS,
    CheckedFile,
    PendingWrite,
    QueuedFile,
    queued_file_id,
)
from portal_extensions.store.directory import (
    Choice,
    DirectoryNames,
    MemberChoice,
    ServiceContact,
)
from portal_extensions.store.health import HealthCheck


class AuditTrail(Protocol):
    def record(self, event: PortalAuditEvent) -> None: ...


class MemoryAuditTrail:
    """Keeps events in a list (tests and the demo before the store is wired)."""

    def __init__(self) -> None:
        self.events: list[PortalAuditEvent] = []

    def record(self, event: PortalAuditEvent) -> None:
        self.events.append(event)


class HealthSource(Protocol):
    def __call__(self) -> Sequence[HealthCheck]: ...


class SessionRegistry(Protocol):
    """Which signed-in sessions are live, so signing out ends a session on the server too.

    A signed cookie alone stays valid until it expires, even after sign-out; the registry
    makes a copied cookie worthless once its session is signed out.
    """

    def issue(self, user_id: str, lifetime_seconds: float) -> str: ...

    def is_live(self, session_id: str, user_id: str) -> bool: ...

    def revoke(self, session_id: str) -> None: ...


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


class CaseWrites(Protocol):
    """Changes to cases, queued for the CRM (the store's outbox).

    An implementation writes the change and its audit event in one transaction; the web front
    only audits refusals, so nothing is recorded twice.
    """

    def add_note(
        self, portal_id: uuid.UUID, text: str, *, actor: str, on_behalf_of: str | None
    ) -> str: ...

    def attach(
        self,
        portal_id: uuid.UUID,
        text: str,
        files: Sequence[CheckedFile],
        *,
        actor: str,
        on_behalf_of: str | None,
    ) -> str:
        """Queue a note carrying checked files (the outbox's `attach` write)."""
        ...

    def close(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str: ...

    def reopen(
        self, portal_id: uuid.UUID, reason: str, *, actor: str, on_behalf_of: str | None
    ) -> str: ...

    def create_case(self, case: MemberCase, *, actor: str, on_behalf_of: str | None) -> str: ...

    def update_case(
        self, case: MemberCase, *, change: str, actor: str, on_behalf_of: str | None
    ) -> str:
        """Put the changed case in the index *and* queue it for the CRM, in one transaction,
        so the change (a withdrawal above all) takes effect on every route at once."""
        ...

    def pending(self, portal_id: uuid.UUID) -> list[PendingWrite]: ...

    def queued_file(
        self, portal_id: uuid.UUID, file_id: str
    ) -> tuple[PendingWrite, CheckedFile] | None:
        """A file of a write on this case whose content is still in the outbox, with the write
        (its `actor` is the uploader), or None. The caller checks who may download it."""
        ...


class MemoryCaseWrites:
    """Queued writes in memory (tests and the demo before the store is wired)."""

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

    def pending(self, portal_id: uuid.UUID) -> list[PendingWrite]:
        return [write for _, write in self.writes.get(portal_id, [])]

    def queued_file(
        self, portal_id: uuid.UUID, file_id: str
    ) -> tuple[PendingWrite, CheckedFile] | None:
        return self.queued_files.get((portal_id, file_id))


class PartySearchUnavailable(Exception):
    """The CRM could not be searched just now (the look-up then shows the index's answers)."""


class PartySource(Protocol):
    """People in the council's CRM, found by name, postcode or email (the connector, through a
    party mapping; a fake in tests). Returns caseload `Constituent` records, never raw CRM ones;
    raises `PartySearchUnavailable` when the CRM cannot answer."""

    def find_people(self, text: str, *, limit: int) -> list[Constituent]: ...


@dataclass
class MemoryPartySource:
    people: list[Constituent]

    def find_people(self, text: str, *, limit: int) -> list[Constituent]:
        wanted = " ".join(text.casefold().split())
        if not wanted:
            return []
        found = [
            person
            for person in self.people
            if wanted in person.display_name.casefold()
            or wanted == (person.email or "").casefold()
            or wanted.replace(" ", "")
            == (person.location.postcode or "").casefold().replace(" ", "")
        ]
        return found[:limit]


class AttachmentSource(Protocol):
    """The content of a file stored with a case (the CRM's document store, through the
    connector). The caller has already checked the viewer may see the note it belongs to."""

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None: ...


@dataclass
class MemoryAttachmentSource:
    files: dict[tuple[uuid.UUID, str], bytes]

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None:
        return self.files.get((case.portal_id, document_id))


class EnquiryOptions(Protocol):
    """The drop-downs of the new enquiry form, from the CRM's code book and the directory."""

    def categories(self) -> list[Choice]: ...

    def services(self) -> list[Choice]: ...

    def members(self) -> list[MemberChoice]: ...


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


class DirectorySource(Protocol):
    def service_contacts(self) -> list[ServiceContact]: ...

    def names(self) -> DirectoryNames:
        """Every name of the directory, from a small cache: called once per page or call."""
        ...


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
