"""What casework (and the web front over it) needs from the rest of the portal: the case index,
the outbox, the audit trail, the directory, people, the CRM's parties and documents, sessions
and health.

Small protocols, so the store and the connector plug in without casework importing them, and
the tests plug in in-memory fakes (`tests/portal/fakes.py`). The data they carry are the
store's types (`portal_extensions.store`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from mappings.model import Constituent, MemberCase
from portal_extensions.access import Role, Viewer
from portal_extensions.store.accounts import Account, LinkChoice, UserSummary
from portal_extensions.store.audit import PortalAuditEvent
from portal_extensions.store.case_types import (
    Bucket,
    CaseListing,
    CaseSummary,
    StoredCase,
    Whose,
)
from portal_extensions.store.case_writes import CheckedFile, PendingWrite
from portal_extensions.store.directory import (
    Choice,
    DirectoryNames,
    MemberChoice,
    ServiceContact,
)
from portal_extensions.store.health import HealthCheck
from portal_extensions.store.sign_in_failures import Failures


class CaseRepository(Protocol):
    """The case index, as casework reads it.

    Lists are always asked for *as a viewer*: an implementation must filter with
    `access.visible_cases_clause` (SQL) or `access.visibility` (in memory), or with the parts
    of it granted for the reasons a `Whose` choice names (`access.visibility_parts`), so a list
    never shows a case whose page would refuse it. Single cases are fetched by id and then
    checked by casework with `access.can_view_case`.
    """

    def get(self, portal_id: uuid.UUID) -> StoredCase | None:
        """The case with this id, or None. The caller checks access before showing it."""
        ...

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
        """The viewer's cases in a bucket (in one ward, if given; only `whose` cases), newest
        first, with the count of every bucket, and the bucket counts of each `also_count`
        list (`CaseListing.other_counts`)."""
        ...

    def search_visible(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[CaseSummary]:
        """Cases the viewer may see that match every word of `text` in fields they may see
        (`store.search.matches_visible`), best first."""
        ...

    def find_by_constituent(
        self, viewer: Viewer, now: datetime, text: str, *, limit: int
    ) -> list[StoredCase]:
        """Cases the viewer may see whose resident matches `text` by name, email or postcode
        (`casework.lookup.resident_matches`; an implementation may return a few more),
        newest first."""
        ...


class CaseWrites(Protocol):
    """Changes to cases, queued for the CRM (the store's outbox).

    An implementation writes the change and its audit event in one transaction; casework
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

    def respond(self, case: MemberCase, text: str, *, actor: str) -> str:
        """Queue a service's reply (`text`, a note to the CRM) and the case it changes (put in
        the index at once), in one transaction, audited as `respond`; returns the reply's key.
        A service officer acts for their service, never on a member's behalf."""
        ...

    def pending(self, portal_id: uuid.UUID) -> list[PendingWrite]: ...

    def queued_file(
        self, portal_id: uuid.UUID, file_id: str
    ) -> tuple[PendingWrite, CheckedFile] | None:
        """A file of a write on this case whose content is still in the outbox, with the write
        (its `actor` is the uploader), or None. The caller checks who may download it."""
        ...


class AuditTrail(Protocol):
    """The append-only record of who did what (the store's audit table)."""

    def record(self, event: PortalAuditEvent) -> None: ...


class EnquiryOptions(Protocol):
    """The drop-downs of the new enquiry form, from the CRM's code book and the directory."""

    def categories(self) -> list[Choice]: ...

    def services(self) -> list[Choice]: ...

    def members(self) -> list[MemberChoice]: ...


class DirectorySource(Protocol):
    """The council's services (whom members contact there, how fast they answer) and the
    names of the ids cases carry."""

    def service_contacts(self) -> list[ServiceContact]: ...

    def names(self) -> DirectoryNames:
        """Every name of the directory, from a small cache: called once per page or call."""
        ...


class PartySearchUnavailable(Exception):
    """The CRM could not be searched just now (the look-up then shows the index's answers)."""


@dataclass(frozen=True, slots=True)
class PartyQuery:
    """One search of the CRM's people, by the criteria both connectors' party searches offer
    (`CRMClient.search_parties`): each given criterion must match. The resident look-up decides
    which to give from what was typed (`casework.lookup.party_queries`)."""

    surname: str | None = None
    forename: str | None = None
    email: str | None = None
    postcode: str | None = None


class PartySource(Protocol):
    """People in the council's CRM, found by name, postcode or email (the connector, through a
    party mapping; a fake in tests). Returns caseload `Constituent` records, never raw CRM ones;
    raises `PartySearchUnavailable` when the CRM cannot answer."""

    def find_people(self, query: PartyQuery, *, limit: int) -> list[Constituent]: ...


class AttachmentSource(Protocol):
    """The content of a file stored with a case (the CRM's document store, through the
    connector). The caller has already checked the viewer may see the note it belongs to."""

    def fetch(self, case: MemberCase, document_id: str) -> bytes | None: ...


class Accounts(Protocol):
    """Who may sign in: the store's users and roles."""

    def by_username(self, username: str) -> Account | None: ...

    def by_user_id(self, user_id: str) -> Account | None: ...


class AccountAdmin(Protocol):
    """The accounts an administrator manages (the store's users and roles). Each change is
    written with its audit event naming `actor`; a change that cannot be made raises
    `store.accounts.AccountError` (its `field` says which part of the account it is about)."""

    def list_accounts(self) -> list[UserSummary]: ...

    def account(self, user_id: int) -> UserSummary | None: ...

    def link_choices(self) -> tuple[list[LinkChoice], list[LinkChoice]]:
        """The members and the officers an account can be linked to."""
        ...

    def create(
        self,
        *,
        username: str,
        display_name: str,
        role: Role,
        password: str | None,
        email: str | None,
        member_id: str | None,
        officer_id: str | None,
        supports: Sequence[str],
        actor: str,
    ) -> int:
        """A new active account (`password=None`: single sign-on only); returns its id."""
        ...

    def change_role(
        self,
        username: str,
        *,
        role: Role,
        member_id: str | None,
        officer_id: str | None,
        supports: Sequence[str],
        actor: str,
    ) -> bool:
        """False when the account already had exactly this role and links."""
        ...

    def set_password(self, username: str, password: str, *, actor: str) -> None:
        """Replace the password and end every session of the account."""
        ...

    def set_active(self, username: str, active: bool, *, actor: str) -> bool:
        """Enable or disable (ending its sessions); False when it already was."""
        ...


class SessionRegistry(Protocol):
    """Which signed-in sessions are live, so signing out ends a session on the server too.

    A signed cookie alone stays valid until it expires, even after sign-out; the registry
    makes a copied cookie worthless once its session is signed out.
    """

    def issue(self, user_id: str, lifetime_seconds: float) -> str: ...

    def is_live(self, session_id: str, user_id: str) -> bool: ...

    def revoke(self, session_id: str) -> None: ...


class SignInFailures(Protocol):
    """Failed sign-in counters shared by every portal process (the throttle's memory), each
    named by a key the throttle makes."""

    def recent(self, keys: Sequence[str], since: datetime) -> dict[str, Failures]:
        """The counters of `keys` whose last failure is after `since`."""
        ...

    def add(self, keys: Sequence[str], now: datetime, since: datetime) -> None:
        """One more failure at `now` for each key (a count that lapsed by `since` restarts)."""
        ...

    def clear(self, key: str) -> None: ...


class HealthSource(Protocol):
    """The lines of the Health page (CRM reachable, last sync, outbox backlog...)."""

    def __call__(self) -> Sequence[HealthCheck]: ...


__all__ = [
    "AccountAdmin",
    "Accounts",
    "AttachmentSource",
    "AuditTrail",
    "CaseRepository",
    "CaseWrites",
    "DirectorySource",
    "EnquiryOptions",
    "HealthSource",
    "PartyQuery",
    "PartySearchUnavailable",
    "PartySource",
    "SessionRegistry",
    "SignInFailures",
]
