"""A small council for web tests: an account per role and cases covering every sharing and
authority state, built from real `MemberCase` records."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from fastapi import FastAPI

from mappings.model import (
    AttachmentRef,
    Authority,
    CaseStatus,
    Channel,
    Constituent,
    MemberCase,
    Note,
    Sharing,
    SharingLevel,
)
from portal_extensions.access import CaseFacts
from portal_extensions.casework.ports import (
    AttachmentSource,
    HealthSource,
    PartySource,
    SignInFailures,
)
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import Account, StoreAccountAdmin
from portal_extensions.store.case_types import StoredCase
from portal_extensions.store.case_writes import CheckedFile, PendingWrite
from portal_extensions.store.database import Store
from portal_extensions.store.directory import (
    Choice,
    DirectoryNames,
    MemberChoice,
    ServiceContact,
)
from portal_extensions.web import create_app
from tests.portal.access_fixtures import MEMBERS, NOW, PARTY, VIEWERS, WARD
from tests.portal.fakes import (
    AccountBook,
    MemoryAttachmentSource,
    MemoryAuditTrail,
    MemoryCaseRepository,
    MemoryCaseWrites,
    MemoryDirectory,
    MemoryEnquiryOptions,
    MemorySessionRegistry,
    MemorySignInFailures,
)
from tests.portal.report_fixtures import fixture_reports

PASSWORD = "correct horse battery staple"
SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Cheap argon2 parameters keep the tests fast; verification reads them from the hash itself.
_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)

ACCOUNTS = AccountBook(
    Account(
        username=name,
        display_name=name.replace("_", " ").title(),
        password_hash=_HASH,
        viewer=viewer,
    )
    for name, viewer in VIEWERS.items()
)


DOCUMENT_ID = "DOC-1"


def letter(title: str) -> bytes:
    """The stored file of each fixture case: a letter naming the case."""
    return f"Letter about {title}".encode()


def make_case(
    owner: str,
    title: str,
    *,
    level: SharingLevel = SharingLevel.PRIVATE,
    colleague: str | None = None,
    withdrawn: bool = False,
    service: str | None = None,
    special: bool = False,
    status: CaseStatus = CaseStatus.OPEN,
    **changes: object,
) -> MemberCase:
    received = changes.pop("received_at", NOW - timedelta(days=10))
    assert isinstance(received, datetime)
    fields: dict[str, object] = dict(
        portal_id=uuid.uuid5(uuid.NAMESPACE_URL, f"case:{owner}:{title}"),
        crm_reference=f"1010{uuid.uuid5(uuid.NAMESPACE_URL, title).int % 10**8:08d}",
        member_id=owner,
        ward_id=WARD[owner],
        constituent=Constituent(forename="Sam", surname=f"Resident-{title[:10]}"),
        category="Street cleaning",
        service_id=service,
        title=title,
        description=f"Details of {title}",
        channel=Channel.SURGERY,
        status=status,
        received_at=received,
        sharing=Sharing(level=level, colleague_id=colleague),
        authority=Authority(
            recorded_by=owner,
            recorded_at=received,
            explicit_consent=special,
            withdrawn_at=NOW - timedelta(days=1) if withdrawn else None,
        ),
        special_category=special,
        notes=[
            Note(
                author=owner,
                text=f"First note on {title}",
                created_at=received,
                attachments=[
                    AttachmentRef(
                        crm_document_id=DOCUMENT_ID,
                        filename="letter.txt",
                        media_type="text/plain",
                        size_bytes=len(letter(title)),
                    )
                ],
            )
        ],
    )
    fields.update(changes)
    return MemberCase.model_validate(fields)


CASES = [
    make_case("alice", "Fly-tipping behind the shops"),
    make_case("alice", "Broken street light", level=SharingLevel.WARD, service="S1"),
    make_case("alice", "Bins not collected", level=SharingLevel.PARTY),
    make_case("alice", "Cover during holiday", level=SharingLevel.NAMED, colleague="dave"),
    make_case(
        "alice", "Withdrawn ward case", level=SharingLevel.WARD, withdrawn=True, service="S1"
    ),
    make_case(
        "alice", "Housing adaptation", service="S1", special=True, status=CaseStatus.WITH_SERVICE
    ),
    make_case("carol", "Pothole on High Street", service="S2"),
    make_case("dave", "Noise from a pub", level=SharingLevel.WARD),
    make_case("erin", "Overgrown hedge", service="S1"),
    make_case(
        "alice",
        "Blocked drain cleared",
        level=SharingLevel.WARD,
        status=CaseStatus.CLOSED,
        received_at=NOW - timedelta(days=90),
        closed_at=NOW - timedelta(days=60),
        closure_reason="Drain cleared by Highways",
    ),
]


OPTIONS = MemoryEnquiryOptions(
    [Choice("roads", "Roads and pavements"), Choice("street_lighting", "Street lighting")],
    [Choice("S1", "Highways"), Choice("S2", "Housing")],
    [MemberChoice(m.id, f"Cllr {m.id.title()}", m.ward_id) for m in MEMBERS],
)


WARD_NAMES = {"W1": "Abbey", "W2": "Castle"}
DIRECTORY = MemoryDirectory(
    [
        ServiceContact("Highways", "Pat Road", "highways@northshire.example", None, 10, "S1", "o1"),
        ServiceContact(
            "Housing", "Sam Home", "housing@northshire.example", "01632 960 000", 1, "S2", "o2"
        ),
    ],
    DirectoryNames(
        members={m.id: m.name for m in OPTIONS.members()},
        wards=WARD_NAMES,
        categories={c.value: c.text for c in OPTIONS.categories()},
    ),
)

# A file waiting in the outbox on every fixture case (the authorization matrix downloads it),
# uploaded by someone who is none of the fixture viewers.
QUEUED_FILE_ID = "00000000-0000-4000-8000-00000000f11e.0"


def stored(case: MemberCase, queued: bool = False) -> StoredCase:
    return StoredCase(case, CaseFacts.from_case(case, PARTY[case.member_id]), queued)


class FixtureAccountAdmin(StoreAccountAdmin):
    """The store's account pages' part over a SQLite store holding the fixture council and an
    account per fixture viewer (`tests.store.seeding`), made on first use: most web tests never
    open the account pages, and a store takes a while to migrate. Its accounts are not the ones
    that sign in to the fake-backed portal (`ACCOUNTS`); tests of the account pages themselves
    run on one store for both (`test_web_accounts.py`)."""

    def __init__(self) -> None:
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._store: Store | None = None

    @property
    def store(self) -> Store:  # type: ignore[override]
        if self._store is None:
            from tests.store.seeding import seeded_store

            self._folder = tempfile.TemporaryDirectory(prefix="caseload-accounts-")
            self._store = seeded_store(Path(self._folder.name) / "accounts.sqlite", CASES[:1])
        return self._store


@dataclass
class Built:
    app: FastAPI
    audit: MemoryAuditTrail
    repository: MemoryCaseRepository


def build(
    *,
    reindex: bool = True,
    parties: PartySource | None = None,
    queued_files: bool = False,
    crm_files: bool = True,
    liveness: Callable[[], object] = lambda: None,
    sign_in_failures: SignInFailures | None = None,
    clock: Callable[[], datetime] = lambda: NOW,
    health: HealthSource = lambda: (),
    **overrides: object,
) -> Built:
    """The test portal; `reindex=False` keeps the index as seeded whatever is posted (the
    authorization matrix compares every answer with the seeded cases' facts); `queued_files`
    puts a file waiting for the CRM on every case, at `QUEUED_FILE_ID`; `crm_files=False`
    leaves out the CRM's document store, as a portal without a CRM runs; `liveness` stands
    for the store's answer to `/healthz` (raise to play an unreachable store); `health` gives
    the Health page's lines; `sign_in_failures` the throttle's counters (the store's, to share
    them between apps); `clock` the portal's time (fixed at NOW)."""
    values: dict[str, object] = {
        "council_name": "Northshire Council",
        "secret_key": SECRET,
        "https": False,
    }
    values.update(overrides)
    settings = PortalSettings.model_validate(values)
    audit = MemoryAuditTrail()
    repository = MemoryCaseRepository(stored(case) for case in CASES)
    writes = MemoryCaseWrites(
        audit,
        lambda: NOW,
        created=lambda case: repository.put(stored(case, queued=True)),
        updated=(lambda case: repository.put(stored(case, queued=True))) if reindex else None,
    )
    if queued_files:
        for case in CASES:
            write = PendingWrite("attach", "queued", "u-uploader", NOW, key=QUEUED_FILE_ID[:-2])
            content = CheckedFile("queued.txt", "text/plain", letter(case.title))
            writes.queued_files[(case.portal_id, QUEUED_FILE_ID)] = (write, content)
    attachments: AttachmentSource | None = (
        MemoryAttachmentSource(
            {(case.portal_id, DOCUMENT_ID): letter(case.title) for case in CASES}
        )
        if crm_files
        else None
    )
    app = create_app(
        settings,
        accounts=ACCOUNTS,
        account_admin=FixtureAccountAdmin(),
        cases=repository,
        writes=writes,
        enquiry_options=OPTIONS,
        directory=DIRECTORY,
        audit=audit,
        health=health,
        liveness=liveness,
        sessions=MemorySessionRegistry(),
        sign_in_failures=sign_in_failures or MemorySignInFailures(),
        reports=fixture_reports(DIRECTORY),
        clock=clock,
        parties=parties,
        attachments=attachments,
    )
    return Built(app, audit, repository)
