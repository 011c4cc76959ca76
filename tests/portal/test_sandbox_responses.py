"""A service's reply on the real stack: the portal over the store, the real Lagan connector and
the dispatcher, against the sandbox CRM. The reply reaches the CRM case once, as a note that
says whose reply it is, even when the CRM's answer to it is lost and the note is sent again."""

from __future__ import annotations

import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import Authority, CaseStatus, MemberCase, ServiceRequest
from portal_extensions.config import PortalSettings
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.store import IndexedCase, Store, upsert_cases
from portal_extensions.store.accounts import StoreAccountAdmin, StoreAccounts
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import DirectoryNames, ServiceContact, StoreEnquiryOptions
from portal_extensions.store.outbox import backlog
from portal_extensions.store.schema import members, officers, parties, roles, user_roles, users
from portal_extensions.store.schema import wards as wards_table
from portal_extensions.web import create_app
from tests.portal.conftest import sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.test_web_sandbox import LAGAN, lagan_client
from tests.portal.web_fixtures import PASSWORD, SECRET

HIGHWAYS = ServiceContact("Highways", "Pat Road", "highways@example.org", None, 10, "roads", "o1")


@pytest.mark.sandbox_crm(cases=3, seed=13, faults="createNotes:lose_response=1.0")
def test_a_reply_reaches_the_crm_once_as_the_services_note(sandbox_crm, tmp_path: Path) -> None:
    client = lagan_client(sandbox_crm)
    ref = sorted(sandbox_crm.store.cases)[0]
    client.reopen_case(ref, "The pothole is back")  # the seeded cases are closed
    crm_case = LAGAN.to_caseload(client.get_case(ref))
    now = datetime.now(UTC)
    sent = max(now - timedelta(days=1), crm_case.received_at)
    case = MemberCase.model_validate(
        {
            **crm_case.model_dump(),
            "closed_at": None,  # sent to a service: no longer a reopened case
            "service_id": "roads",
            "status": CaseStatus.WITH_SERVICE,
            "authority": crm_case.authority
            or Authority(recorded_by=crm_case.member_id, recorded_at=crm_case.received_at),
            "service_requests": [
                ServiceRequest(
                    service_id="roads",
                    sent_at=sent,
                    response_due=(sent + timedelta(days=14)).date(),
                )
            ],
        }
    )
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    with store.write() as conn:
        conn.execute(sa.insert(parties).values(id="p1", name="Red"))
        conn.execute(sa.insert(wards_table).values(id=case.ward_id, name="The ward"))
        conn.execute(
            sa.insert(members).values(
                id=case.member_id, name="Cllr Sandbox", party_id="p1", ward_id=case.ward_id
            )
        )
        conn.execute(
            sa.insert(officers).values(
                id="o1", name="Pat Road", email="pat@example.org", service_id="roads"
            )
        )
        known = conn.execute(sa.select(roles.c.name).where(roles.c.name == "service_officer"))
        if known.first() is None:  # the first migration seeds the roles
            conn.execute(sa.insert(roles).values(name="service_officer", description="Service"))
        conn.execute(
            sa.insert(users).values(
                id=1,
                username="pat",
                display_name="Pat Road",
                officer_id="o1",
                password_hash=PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD),
                active=True,
                created_at=now,
            )
        )
        conn.execute(sa.insert(user_roles).values(user_id=1, role_name="service_officer"))
        upsert_cases(conn, [IndexedCase(case, None)], now=now)
    app = create_app(
        PortalSettings(council_name="Sandbox Council", secret_key=SECRET, https=False),
        accounts=StoreAccounts(store),
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=MemoryDirectory([HIGHWAYS], DirectoryNames()),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        reports=store_reports(store, MemoryDirectory([HIGHWAYS], DirectoryNames())),
        sign_in_failures=MemorySignInFailures(),
        parties=None,
        attachments=None,
    )
    officer = TestClient(app, follow_redirects=False)
    assert sign_in(officer, "pat").status_code == 303
    reply = officer.post(
        f"/api/v1/cases/{case.portal_id}/respond",
        json={"text": "Pothole filled on Tuesday; the kerb is booked for next month."},
        headers={"X-CSRF-Token": officer.get("/api/v1/session").json()["csrf_token"]},
    )
    assert reply.status_code == 202, reply.text

    dispatcher = Dispatcher(store, client, LAGAN, backoff_initial=0, backoff_max=0)
    dispatcher.run_until_idle(limit=10)
    with store.read() as conn:
        assert backlog(conn)["confirmed"] == 2, backlog(conn)
    # The CRM kept the note but its answer was lost: the connector found it by its key.
    assert {e.operation for e in sandbox_crm.faults.events} == {"createNotes"}
    notes = [
        note.text
        for note in LAGAN.to_caseload(client.get_case(ref)).notes
        if "Pothole filled" in note.text
    ]
    assert notes == [
        "Reply from Highways:\n\nPothole filled on Tuesday; the kerb is booked for next month."
    ]
    indexed = StoreCaseRepository(store).get(uuid.UUID(str(case.portal_id)))
    assert indexed is not None and indexed.case.status is CaseStatus.RESPONDED
    client.close()
    store.close()
