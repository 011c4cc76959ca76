"""The one CRM-neutral interface that the rest of Caseload calls.

Methods are named in CRM terms and exchange raw records (`docs/raw-records.md`): plain,
JSON-compatible dicts in the CRM's own shape. Translating them is `mappings/`'s job; this module
only fixes *what* can be asked of any CRM, so the store, sync and outbox never learn which
transport is underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

#: One raw case record, in the CRM's own shape (see docs/raw-records.md).
RawCase = dict[str, Any]
#: One raw party (individual/organisation on Lagan, contact/account on Dataverse).
RawParty = dict[str, Any]
#: An outbound payload in the CRM's shape (request element data or JSON body).
RawPayload = dict[str, Any]


class CaseEvent(BaseModel):
    """A case event a CRM pushed: only a nudge to read that case again (never trusted data).

    `crm` is the registered kind of the CRM it came from; `event` the CRM's own event type.
    """

    model_config = ConfigDict(frozen=True)

    crm: str = Field(min_length=1)
    event: str = Field(min_length=1, max_length=200)
    reference: str = Field(min_length=1, max_length=64)


class CasePage(list[RawCase]):
    """One page of `CRMClient.iter_changed_cases`: a plain list of raw cases, plus a promise.

    `complete_until`, when set, says that every case modified in [since, complete_until) has now
    been yielded (by this page or an earlier one). Lagan cases carry no modification time, so
    this is how a reader can keep its place part-way through a run: the connector reads Lagan in
    time windows and marks the last page of each. None means no such promise (Dataverse pages
    carry `modifiedon` on every case instead).

    Lagan's published contract has no modification time, so an incremental read re-reads the
    open cases after the new ones. Its pages say so with `open_sweep` (the first such page is
    empty, so a reader that needs only the new cases - a resumed full read - can stop before
    any is fetched), and the last page carries `open_complete`: every case open in the CRM has
    been yielded, so a reader may re-read, one by one, the cases it holds as open that were not
    among them - they were closed or deleted since.
    """

    complete_until: datetime | None
    open_sweep: bool
    open_complete: bool

    def __init__(
        self,
        cases: Iterable[RawCase] = (),
        complete_until: datetime | None = None,
        *,
        open_sweep: bool = False,
        open_complete: bool = False,
    ):
        super().__init__(cases)
        self.complete_until = complete_until
        self.open_sweep = open_sweep or open_complete
        self.open_complete = open_complete


class CaseRef(BaseModel):
    """The CRM's reference for a case, plus whether this call created it.

    `created` is False when an idempotent create found the case already made by an earlier
    attempt (the response was lost): the outbox can mark the write confirmed either way.
    """

    model_config = ConfigDict(frozen=True)

    crm: str = Field(min_length=1, description="The registered kind of the CRM.")
    reference: str = Field(min_length=1)
    created: bool = True

    def __str__(self) -> str:
        return self.reference


class PartyRef(BaseModel):
    """The CRM's reference for a party (Lagan object id + type, Dataverse entity id)."""

    model_config = ConfigDict(frozen=True)

    crm: str = Field(min_length=1, description="The registered kind of the CRM.")
    reference: str = Field(min_length=1)
    kind: str = Field(description="Lagan object type (C1, C2) or Dataverse entity (contact).")


class Attachment(BaseModel):
    """A file added to a note or fetched from the CRM's document store."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=255)
    content_type: str = "application/octet-stream"
    content: bytes = Field(repr=False)
    reference: str | None = None


class HealthCheck(BaseModel):
    """One line of `caseload crm check`: a named probe and whether it passed."""

    name: str
    ok: bool
    detail: str = ""
    elapsed_ms: float | None = None


class HealthReport(BaseModel):
    """All probes of one health run; `ok` only if every probe passed."""

    crm: str
    checks: list[HealthCheck]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


@runtime_checkable
class CRMClient(Protocol):
    """What Caseload may ask of a CRM. Every method raises only `connector.errors.CRMError`s.

    Reads are safe to retry. `create_case` is exactly-once for a given `idempotency_key` (a UUID
    the portal makes once, before any retry): calling again with the same key returns the
    existing record's reference with `created=False`. `add_note` is exactly-once for a given
    `idempotency_key` too (the key is stamped into the note and looked up before a write). A
    party create is never replayed after a failure that may have reached the CRM.
    """

    @property
    def kind(self) -> str:
        """The registered CRM kind of this client (`connector.factory.kinds()`)."""
        ...

    def iter_changed_cases(
        self, since: datetime, until: datetime | None = None, page_size: int = 200
    ) -> Iterator[list[RawCase]]:
        """Yield pages of cases modified in [since, until), oldest first, in constant memory.

        A page may be a `CasePage` whose `complete_until` marks how far the read is complete.
        """
        ...

    def get_case(self, ref: str) -> RawCase:
        """One case in full, or `CRMNotFound`."""
        ...

    def find_case_by_key(self, idempotency_key: str) -> str | None:
        """The CRM reference of the case stamped with this portal key, if one exists."""
        ...

    def create_case(self, payload: RawPayload, idempotency_key: str) -> CaseRef:
        """Create a case exactly once per key, stamping the key into the CRM record."""
        ...

    def update_case(self, ref: str, payload: RawPayload) -> None:
        """Apply a partial update to an existing case."""
        ...

    def close_case(self, ref: str, reason: str) -> None:
        """Close a case with a reason the CRM records."""
        ...

    def reopen_case(self, ref: str, reason: str) -> None:
        """Reopen a closed case."""
        ...

    def add_note(
        self,
        ref: str,
        text: str,
        attachments: Sequence[Attachment] = (),
        *,
        idempotency_key: str,
        author: str | None = None,
    ) -> None:
        """Add a note (and its files) to a case, exactly once per `idempotency_key`.

        Calling again with the same key (after a lost answer, a timeout, a crash) adds nothing
        if the CRM already has the note; retries are decided inside the connector. `author` is
        the acting person's display name (a member, or staff "for" a member): the connector
        records it where the CRM gives it back on a read, since the CRM's own author is the
        integration account.
        """
        ...

    def get_attachment(self, reference: str) -> Attachment:
        """Fetch one stored document by the CRM's reference."""
        ...

    def search_parties(
        self,
        *,
        name: str | None = None,
        forename: str | None = None,
        postcode: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        limit: int = 50,
    ) -> list[RawParty]:
        """Parties matching every given criterion (at least one is required)."""
        ...

    def get_party(self, ref: str) -> RawParty:
        """One party in full, or `CRMNotFound`."""
        ...

    def create_party(self, payload: RawPayload) -> PartyRef:
        """Create a person record and return its reference.

        Not keyed: neither CRM has a field for a portal key on a person. After a failure that may
        have reached the CRM it is not replayed; search for the person before trying again.
        """
        ...

    def code_book(self) -> list[dict[str, Any]]:
        """The CRM's case categories (code, name, and whatever grouping the CRM has)."""
        ...

    def operations(self) -> list[str]:
        """The CRM operations (SOAP) or entity sets (REST) this endpoint offers."""
        ...

    def health(self) -> HealthReport:
        """Probe DNS, TLS, auth, contract and latency; never raises for a failed probe."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


__all__ = [
    "Attachment",
    "CRMClient",
    "CaseEvent",
    "CasePage",
    "CaseRef",
    "HealthCheck",
    "HealthReport",
    "PartyRef",
    "RawCase",
    "RawParty",
    "RawPayload",
]
