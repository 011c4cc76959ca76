"""Sending a case to a service: the deadline in working days (UK bank holidays of the council's
nation skipped), recorded as a service request, queued for the CRM, status `with_service`."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import CaseStatus
from portal_extensions.casework.working_days import add_working_days, is_working_day
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import StoreAccountAdmin
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import outbox
from portal_extensions.web import create_app
from tests.portal.access_fixtures import NOW
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.web_fixtures import ACCOUNTS, CASES, DIRECTORY, SECRET
from tests.store.seeding import seeded_store

FLY_TIPPING = next(c for c in CASES if c.title == "Fly-tipping behind the shops")
CLOSED = next(c for c in CASES if c.status is CaseStatus.CLOSED)


def test_working_days_skip_weekends_and_the_nations_bank_holidays() -> None:
    maundy_thursday = date(2026, 4, 2)
    # England: Good Friday, the weekend and Easter Monday are skipped.
    assert add_working_days(maundy_thursday, 1) == date(2026, 4, 7)
    # Scotland has no Easter Monday holiday.
    assert add_working_days(maundy_thursday, 1, "scotland") == date(2026, 4, 6)
    assert not is_working_day(date(2026, 11, 30), "scotland")  # St Andrew's Day (a Monday)
    assert is_working_day(date(2026, 11, 30), "england")
    assert not is_working_day(date(2026, 7, 13), "northern_ireland")  # Battle of the Boyne
    assert add_working_days(date(2026, 6, 15), 10) == date(2026, 6, 29)
    assert add_working_days(date(2026, 6, 19), 0) == date(2026, 6, 19)


def test_the_nation_is_a_portal_setting() -> None:
    values = {"council_name": "Northshire Council", "secret_key": SECRET}
    assert PortalSettings.model_validate(values).bank_holiday_nation == "england"
    assert (
        PortalSettings.model_validate(
            {**values, "bank_holiday_nation": "wales"}
        ).bank_holiday_nation
        == "wales"
    )
    with pytest.raises(ValidationError):
        PortalSettings.model_validate({**values, "bank_holiday_nation": "cornwall"})


def test_a_member_sends_a_case_to_a_service_with_its_deadline(built) -> None:
    alice = TestClient(built.app, follow_redirects=False)
    officer = TestClient(built.app, follow_redirects=False)
    sign_in(alice, "alice")
    sign_in(officer, "officer_s1")
    assert officer.get(f"/cases/{FLY_TIPPING.portal_id}").status_code == 404
    page = alice.get(f"/cases/{FLY_TIPPING.portal_id}")
    assert "Highways (replies within 10 working days)" in page.text
    sent = alice.post(
        f"/cases/{FLY_TIPPING.portal_id}/service",
        data={"service_id": "S1", "csrf_token": csrf_from(page.text)},
    )
    assert sent.status_code == 303
    stored = built.repository.get(FLY_TIPPING.portal_id)
    assert stored is not None
    assert stored.case.status is CaseStatus.WITH_SERVICE and stored.case.service_id == "S1"
    [request] = stored.case.service_requests
    assert (request.service_id, request.officer_id) == ("S1", "o1")
    assert request.response_due == date(2026, 6, 29)  # 10 working days after Mon 15 June
    after = alice.get(f"/cases/{FLY_TIPPING.portal_id}")
    assert "Sent to Highways on 15 June 2026, reply due 29 June 2026" in after.text
    assert "Changes to the case by u-alice" in page_text(after.text)
    assert officer.get(f"/cases/{FLY_TIPPING.portal_id}").status_code == 200
    counts = alice.get("/api/v1/caseload", params={"view": "awaiting_service"}).json()
    assert str(FLY_TIPPING.portal_id) in {row["portal_id"] for row in counts["cases"]}
    assert [e.actor for e in built.audit.events if e.action == "send_to_service"] == ["u-alice"]


def test_an_unknown_service_is_an_error_beside_the_field_and_a_closed_case_a_conflict(
    client,
) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{FLY_TIPPING.portal_id}")
    wrong = client.post(
        f"/cases/{FLY_TIPPING.portal_id}/service",
        data={"service_id": "S99", "csrf_token": csrf_from(page.text)},
    )
    assert wrong.status_code == 422
    assert 'id="service_id-error"' in wrong.text and 'href="#service_id"' in wrong.text
    token = client.get("/api/v1/session").json()["csrf_token"]
    closed = client.post(
        f"/api/v1/cases/{CLOSED.portal_id}/service",
        json={"service_id": "S1"},
        headers={"X-CSRF-Token": token},
    )
    assert closed.status_code == 409


def test_through_the_store_the_service_sees_the_case_at_once_and_the_crm_write_is_queued(
    tmp_path: Path,
) -> None:
    store = seeded_store(tmp_path / "c.sqlite", CASES)
    settings = PortalSettings.model_validate(
        {
            "council_name": "Northshire Council",
            "secret_key": SECRET,
            "https": False,
            "bank_holiday_nation": "scotland",
        }
    )
    app = create_app(
        settings,
        accounts=ACCOUNTS,
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=(directory := MemoryDirectory(DIRECTORY.contacts)),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        sign_in_failures=MemorySignInFailures(),
        reports=store_reports(store, directory),
        parties=None,
        attachments=None,
        clock=lambda: NOW,
    )
    alice = TestClient(app, follow_redirects=False)
    officer = TestClient(app, follow_redirects=False)
    sign_in(alice, "alice")
    sign_in(officer, "officer_s1")
    token = alice.get("/api/v1/session").json()["csrf_token"]
    sent = alice.post(
        f"/api/v1/cases/{FLY_TIPPING.portal_id}/service",
        json={"service_id": "S1"},
        headers={"X-CSRF-Token": token},
    )
    assert sent.status_code == 202 and sent.json()["response_due"] == "2026-06-29"
    listed = officer.get("/api/v1/caseload").json()["cases"]
    assert str(FLY_TIPPING.portal_id) in {row["portal_id"] for row in listed}
    with store.read() as conn:
        kinds = conn.execute(
            sa.select(outbox.c.kind, outbox.c.state).where(
                outbox.c.portal_id == str(FLY_TIPPING.portal_id)
            )
        ).all()
    assert ("update_case", "queued") in [tuple(row) for row in kinds]
