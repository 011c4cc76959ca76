"""End to end on the real stack: a member records an enquiry in the portal, sees it queued,
the outbox writes it to the sandbox CRM, and the portal then shows it confirmed."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from connector.base import CRMClient
from connector.factory import build_client
from connector.settings import CRMSettings
from mappings import load_profile
from mappings.model import Authority, CaseStatus, Sharing, SharingLevel
from portal_extensions.config import PortalSettings
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store
from portal_extensions.store.accounts import StoreAccountAdmin, StoreAccounts
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import (
    categories,
    members,
    parties,
    roles,
    user_roles,
    users,
    wards,
)
from portal_extensions.web import create_app
from tests.portal.conftest import sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.web_fixtures import PASSWORD, SECRET

LAGAN = load_profile("lagan")


def lagan_client(handle: Any) -> CRMClient:
    """The real Lagan connector pointed at the in-process sandbox, with fast retries."""
    settings = CRMSettings(
        kind="lagan",
        endpoint=handle.fl_url,
        auth_endpoint=handle.flauth_url,
        allowed_hosts=[urlsplit(handle.base_url).hostname],
        username=handle.username,
        password=handle.password,
        backoff_initial=0.0,
        backoff_max=0.01,
        retry_attempts=3,
        read_timeout=5.0,
        deadline=20.0,
    )
    return build_client(settings, shared=False)


QUEUED = "Waiting for the council&#39;s CRM to confirm this case"


def _queued_banner(html: str) -> bool:
    return QUEUED in html or QUEUED.replace("&#39;", "'") in html


@pytest.mark.sandbox_crm(cases=5, seed=11)
def test_an_enquiry_is_queued_then_confirmed_by_the_crm(sandbox_crm, tmp_path: Path) -> None:
    client = lagan_client(sandbox_crm)
    seeded = LAGAN.to_caseload(client.get_case(sorted(sandbox_crm.store.cases)[0]))
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(sa.insert(parties).values(id="p1", name="Red"))
        conn.execute(sa.insert(wards).values(id=seeded.ward_id, name="The ward"))
        conn.execute(
            sa.insert(members).values(
                id=seeded.member_id, name="Cllr Sandbox", party_id="p1", ward_id=seeded.ward_id
            )
        )
        conn.execute(
            sa.insert(categories).values(code=seeded.category, name="Roads", updated_at=now)
        )
        if conn.execute(sa.select(roles.c.name).where(roles.c.name == "member")).first() is None:
            conn.execute(sa.insert(roles).values(name="member", description="A councillor"))
        conn.execute(
            sa.insert(users).values(
                id=1,
                username="cllr",
                display_name="Cllr Sandbox",
                member_id=seeded.member_id,
                password_hash=PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD),
                active=True,
                created_at=now,
            )
        )
        conn.execute(sa.insert(user_roles).values(user_id=1, role_name="member"))
    app = create_app(
        PortalSettings(council_name="Sandbox Council", secret_key=SECRET, https=False),
        accounts=StoreAccounts(store),
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=(directory := MemoryDirectory([])),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        sign_in_failures=MemorySignInFailures(),
        reports=store_reports(store, directory),
        parties=None,
        attachments=None,
    )
    portal = TestClient(app, follow_redirects=False)
    assert sign_in(portal, "cllr").status_code == 303
    token = portal.get("/api/v1/session").json()["csrf_token"]
    created = portal.post(
        "/api/v1/enquiries",
        json={
            "crm_party_id": seeded.constituent.crm_party_id,
            "surname": seeded.constituent.surname,
            "category": seeded.category,
            "title": "Street light out on Mill Lane",
            "channel": "surgery",
        },
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201, created.text
    portal_id = created.json()["portal_id"]
    case_path = f"/cases/{portal_id}"
    assert _queued_banner(portal.get(case_path).text)
    assert "Waiting for the CRM" in portal.get("/caseload").text

    dispatcher = Dispatcher(store, client, LAGAN, backoff_initial=0, backoff_max=0)
    dispatcher.run_until_idle(limit=10)

    assert sandbox_crm.count_cases(PortalId=portal_id) == 1
    confirmed = portal.get(case_path).text
    assert not _queued_banner(confirmed)
    reference = StoreCaseRepository(store).get(uuid.UUID(portal_id)).case.crm_reference  # type: ignore[union-attr]
    assert reference and f"Case {reference}" in confirmed
    caseload = portal.get("/caseload").text
    assert "Street light out on Mill Lane" in caseload
    assert "Waiting for the CRM" not in caseload and "Recorded in the CRM" in caseload
    client.close()
    store.close()


@pytest.mark.sandbox_crm(cases=3, seed=7)
def test_a_withdrawal_survives_syncs_before_and_after_the_crm_confirms_it(
    sandbox_crm, tmp_path: Path
) -> None:
    """The index holds the portal's change until the CRM confirms it (a sync in between must
    not undo a withdrawal), and the CRM then carries the withdrawal back on every sync."""
    client = lagan_client(sandbox_crm)
    seeded = LAGAN.to_caseload(client.get_case(sorted(sandbox_crm.store.cases)[0]))
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    now = datetime.now(UTC)
    case = seeded.model_copy(
        update={
            "portal_id": uuid.uuid4(),
            "crm_reference": None,
            "title": "Withdrawn before the sync",
            "status": CaseStatus.QUEUED,
            "closed_at": None,
            "closure_reason": None,
            "received_at": now,
            "acknowledged_at": None,
            "acknowledgement_due": None,
            "next_update_due": None,
            "target_date": None,
            "sharing": Sharing(level=SharingLevel.WARD),
            "authority": Authority(recorded_by="cllr", recorded_at=now),
            "notes": [],
            "service_requests": [],
        }
    )
    writes = StoreCaseWrites(store)
    writes.create_case(case, actor="cllr", on_behalf_of=None)
    dispatcher = Dispatcher(store, client, LAGAN, backoff_initial=0, backoff_max=0)
    dispatcher.run_until_idle(limit=10)
    repository = StoreCaseRepository(store)
    created = repository.get(case.portal_id)
    assert created is not None and created.case.crm_reference
    assert created.case.authority is not None
    withdrawn = created.case.model_copy(
        update={"authority": created.case.authority.model_copy(update={"withdrawn_at": now})}
    )
    writes.update_case(withdrawn, change="withdraw_authority", actor="cllr", on_behalf_of=None)

    def withdrawn_in_index() -> bool:
        stored = repository.get(case.portal_id)
        return stored is not None and stored.facts.authority_withdrawn_at is not None

    syncer = Syncer(store, client, LAGAN)
    report = syncer.run(full=True)  # the CRM still says "in force": the index must keep it
    assert report.problems == 0 and report.upserts.inserted == 3
    assert withdrawn_in_index()
    dispatcher.run_until_idle(limit=10)
    assert not any(w.state != "confirmed" for w in writes.pending(case.portal_id))
    syncer.run(full=True)  # now the CRM's own copy carries the withdrawal
    assert withdrawn_in_index()
    client.close()
