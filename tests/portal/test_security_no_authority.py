"""A case with no recorded authority is the owner's alone, through the real construction path.

The access matrix builds its facts by hand and every fixture case carries an authority, so a
`CaseFacts.from_case` that read "no authority" as "authority in force" would open ward-shared
and service cases without the constituent's consent and no test would fail. Here the facts come
from the case itself: in memory (`CaseFacts.from_case` and the Python rule), through the store
(its index row and the SQL filter, on SQLite and PostgreSQL), and for a case synced from the CRM
through the mapping with the authority fields empty. A ward colleague and the service officer
get 404 on the page and the API and never see it listed; the owner does (and, as a control, the
colleague does once authority is recorded).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fastapi import FastAPI

from mappings.model import MemberCase, SharingLevel
from portal_extensions.access import CaseFacts
from portal_extensions.config import PortalSettings
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store.accounts import StoreAccountAdmin
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.database import Store
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import sync_problems
from portal_extensions.web import create_app
from tests.portal.access_fixtures import NOW, PARTY
from tests.portal.conftest import sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.test_web_sandbox import LAGAN, lagan_client
from tests.portal.web_fixtures import ACCOUNTS, CASES, SECRET, build, make_case, stored
from tests.store.conftest import BACKENDS, fresh_database, postgres_url  # noqa: F401 (fixture)
from tests.store.seeding import seed

# Shared with the ward and sent to a service, but the constituent's authority never recorded.
NO_AUTHORITY = make_case(
    "alice", "No authority on file", level=SharingLevel.WARD, service="S1", authority=None
)
WITH_AUTHORITY = make_case("alice", "Authority on file", level=SharingLevel.WARD, service="S1")
OUTSIDERS = ("bob", "carol", "officer_s1")  # alice's ward colleagues and the S1 officer


def test_the_facts_of_a_case_with_no_authority_say_so() -> None:
    facts = CaseFacts.from_case(NO_AUTHORITY, PARTY["alice"])
    assert facts.authority_recorded_at is None and not facts.authority_in_force
    assert not facts.explicit_consent_in_force
    assert CaseFacts.from_case(WITH_AUTHORITY, PARTY["alice"]).authority_in_force


def _answers(app: FastAPI, who: str, case: MemberCase) -> dict[str, object]:
    client = TestClient(app, follow_redirects=False)
    assert sign_in(client, who).status_code == 303
    listed = {row["portal_id"] for row in client.get("/api/v1/caseload").json()["cases"]}
    ward = client.get("/api/v1/ward")
    return {
        "page": client.get(f"/cases/{case.portal_id}").status_code,
        "api": client.get(f"/api/v1/cases/{case.portal_id}").status_code,
        "listed": str(case.portal_id) in listed,
        "on the ward list": ward.status_code == 200 and case.title in ward.text,
    }


NOT_SEEN = {"page": 404, "api": 404, "listed": False, "on the ward list": False}


def _assert_owner_only(app: FastAPI, case: MemberCase) -> None:
    for who in OUTSIDERS:
        assert _answers(app, who, case) == NOT_SEEN, who
    owner = _answers(app, "alice", case)
    assert owner["page"] == owner["api"] == 200 and owner["listed"]


def test_in_memory_the_owner_alone_opens_a_case_with_no_authority() -> None:
    built = build()
    built.repository.put(stored(NO_AUTHORITY))  # facts made by CaseFacts.from_case
    built.repository.put(stored(WITH_AUTHORITY))
    _assert_owner_only(built.app, NO_AUTHORITY)
    assert _answers(built.app, "bob", WITH_AUTHORITY)["page"] == 200, "the control"


def _store_app(store: Store) -> FastAPI:
    return create_app(
        PortalSettings(council_name="Northshire Council", secret_key=SECRET, https=False),
        accounts=ACCOUNTS,
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=MemoryDirectory([]),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        account_admin=StoreAccountAdmin(store),
        reports=store_reports(store, MemoryDirectory([])),
        sign_in_failures=MemorySignInFailures(),
        parties=None,
        attachments=None,
        clock=lambda: NOW,
    )


@pytest.fixture(params=BACKENDS)
def council(request, tmp_path_factory) -> Iterator[Store]:
    with fresh_database(request.param, request, tmp_path_factory) as database:
        store = seed(database.open(), [*CASES, NO_AUTHORITY, WITH_AUTHORITY])
        try:
            yield store
        finally:
            store.close()


def test_through_the_store_the_owner_alone_opens_a_case_with_no_authority(
    council: Store,
) -> None:
    indexed = StoreCaseRepository(council).get(NO_AUTHORITY.portal_id)
    assert indexed is not None and indexed.facts.authority_recorded_at is None
    app = _store_app(council)
    _assert_owner_only(app, NO_AUTHORITY)
    assert _answers(app, "bob", WITH_AUTHORITY)["page"] == 200, "the control"


@pytest.mark.sandbox_crm(cases=6, seed=5)
def test_a_case_synced_from_the_crm_with_no_authority_is_the_owners_alone(
    sandbox_crm, tmp_path: Path
) -> None:
    cases = sandbox_crm.store.cases
    reference = next(ref for ref in sorted(cases) if cases[ref]["status"] != "closed")
    portal_id = str(uuid.uuid4())
    sandbox_crm.store.update_case(
        reference,
        {},
        form={
            "PortalId": portal_id,
            "MemberId": "alice",
            "WardId": "W1",
            "Sharing": "ward",
            "ServiceId": "S1",
            "AuthorityRecordedBy": "",
            "AuthorityRecordedAt": "",
            "AuthorityScope": "",
            "LawfulBasis": "",
            "ExplicitConsent": "",
            "AuthorityWithdrawnAt": "",
        },
    )
    client = lagan_client(sandbox_crm)
    store = seed(Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}"), CASES)
    try:
        report = Syncer(store, client, LAGAN).run(full=True)
        with store.read() as conn:
            problems = conn.execute(sa.select(sync_problems)).all()
        assert report.problems == 0, problems
        synced = StoreCaseRepository(store).get(uuid.UUID(portal_id))
        assert synced is not None and synced.case.crm_reference == reference
        assert synced.case.authority is None, "the mapping read no authority"
        assert synced.case.sharing.level is SharingLevel.WARD
        assert synced.case.service_id == "S1"
        _assert_owner_only(_store_app(store), synced.case)
    finally:
        client.close()
        store.close()
