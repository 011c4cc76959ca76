"""A service replies to a case sent to it: the officer sees only what the service needs to
answer; the reply is queued for the CRM as a note, the case becomes "Service replied", and the
member sees the reply on the case's timeline. Audited; only the service it was sent to."""

from __future__ import annotations

import warnings
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import CaseStatus, Location, ServiceRequest
from portal_extensions.casework.responses import (
    MAX_RESPONSE_LENGTH,
    responded_case,
    why_no_reply,
)
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import StoreAccountAdmin
from portal_extensions.store.audit import Outcome, StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import audit_events, outbox
from portal_extensions.web import create_app
from tests.portal.access_fixtures import NOW
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.web_fixtures import ACCOUNTS, CASES, DIRECTORY, SECRET, make_case, stored
from tests.store.seeding import seeded_store

HOUSING = next(c for c in CASES if c.title == "Housing adaptation")  # S1, sensitive, consented
STREET_LIGHT = next(c for c in CASES if c.title == "Broken street light")  # S1, ward-shared
POTHOLE = next(c for c in CASES if c.title == "Pothole on High Street")  # S2
LAMP = make_case(
    "alice",
    "Lamp post leaning",
    service="S1",
    status=CaseStatus.WITH_SERVICE,
    location=Location(address="Outside 12 Mill Lane, Northtown", postcode="NT1 2AB", uprn="1234"),
    service_requests=[
        ServiceRequest(
            service_id="S1",
            officer_id="o1",
            sent_at=NOW - timedelta(days=3),
            response_due=date(2026, 6, 22),
        )
    ],
    target_date=date(2026, 7, 1),
)
CLOSED_S1 = make_case(
    "alice",
    "Closed with Highways",
    service="S1",
    status=CaseStatus.CLOSED,
    closed_at=NOW - timedelta(days=1),
    closure_reason="Done",
)


def _token(client: TestClient) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


@pytest.fixture
def officer(built) -> TestClient:
    built.repository.put(stored(LAMP))
    built.repository.put(stored(CLOSED_S1))
    client = TestClient(built.app, follow_redirects=False)
    sign_in(client, "officer_s1")
    return client


def test_the_officer_sees_what_the_service_needs_and_nothing_about_the_resident(
    built, officer
) -> None:
    page = officer.get(f"/cases/{LAMP.portal_id}/respond")
    assert page.status_code == 200
    text = page_text(page.text)
    for shown in (
        "Lamp post leaning",
        "Details of Lamp post leaning",  # what the issue is
        "Outside 12 Mill Lane, Northtown",  # where
        "NT1 2AB",
        "UPRN 1234",
        "Sent to Highways on 12 June 2026, reply due 22 June 2026",  # the request, due date
        "Target date 1 July 2026",
        "Councillor to answer Cllr Alice",
        "Ward Abbey",
        "Status With service",
    ):
        assert shown in text, shown
    for hidden in ("Resident-", "Sam", "First note", "Shared with", "Authority"):
        assert hidden not in text, hidden
    case_page = officer.get(f"/cases/{LAMP.portal_id}")
    assert f'href="/cases/{LAMP.portal_id}/respond"' in case_page.text
    views = [e for e in built.audit.events if e.subject_id == str(LAMP.portal_id)]
    assert [(e.action, e.actor, e.outcome) for e in views] == [
        ("view_case", "u-so", Outcome.ALLOWED),  # the reply page
        ("view_case", "u-so", Outcome.ALLOWED),  # the case page
    ]


def test_sensitive_details_are_shown_only_under_the_residents_explicit_consent(officer) -> None:
    text = page_text(officer.get(f"/cases/{HOUSING.portal_id}/respond").text)
    assert "Details of Housing adaptation" in text  # explicit consent in force
    assert "Resident-" not in text and "First note" not in text


def test_a_reply_is_queued_moves_the_case_to_service_replied_and_reaches_the_member(
    built, officer
) -> None:
    page = officer.get(f"/cases/{LAMP.portal_id}/respond")
    sent = officer.post(
        f"/cases/{LAMP.portal_id}/respond",
        data={
            "response": "  Engineers made it safe; replaced on 30 June.  ",
            "csrf_token": csrf_from(page.text),
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/cases/{LAMP.portal_id}/respond?replied=true"
    after = page_text(officer.get(sent.headers["location"]).text)
    assert "Your reply was sent to the councillor" in after
    assert "Reply from Highways: Engineers made it safe; replaced on 30 June." in after
    assert "Status Service replied" in after
    assert "(answered on 15 June 2026)" in after
    case = built.repository.get(LAMP.portal_id)
    assert case is not None and case.case.status is CaseStatus.RESPONDED
    assert [r.responded_at for r in case.case.service_requests] == [NOW]
    alice = TestClient(built.app, follow_redirects=False)
    sign_in(alice, "alice")
    timeline = page_text(alice.get(f"/cases/{LAMP.portal_id}").text)
    assert "Reply from a service by u-so" in timeline
    assert "Engineers made it safe; replaced on 30 June." in timeline
    responded = [e for e in built.audit.events if e.action == "respond"]
    assert [(e.actor, e.outcome, e.on_behalf_of) for e in responded] == [
        ("u-so", Outcome.ALLOWED, None)
    ]


def test_a_missing_or_overlong_reply_is_shown_beside_the_field_with_what_was_typed(
    officer,
) -> None:
    page = officer.get(f"/cases/{LAMP.portal_id}/respond")
    token = csrf_from(page.text)
    empty = officer.post(
        f"/cases/{LAMP.portal_id}/respond", data={"response": " ", "csrf_token": token}
    )
    assert empty.status_code == 422
    assert 'href="#response"' in empty.text and 'id="response-error"' in empty.text
    assert "Enter your service&#39;s reply" in empty.text
    long = "x" * (MAX_RESPONSE_LENGTH + 1)
    overlong = officer.post(
        f"/cases/{LAMP.portal_id}/respond", data={"response": long, "csrf_token": token}
    )
    assert overlong.status_code == 422
    assert f"The reply must be {MAX_RESPONSE_LENGTH:,} characters or fewer" in overlong.text
    assert long in overlong.text  # nothing typed is lost


def test_a_closed_case_takes_no_reply(officer) -> None:
    page = officer.get(f"/cases/{CLOSED_S1.portal_id}/respond")
    assert page.status_code == 200
    assert "This case is closed, so it needs no reply." in page_text(page.text)
    assert 'name="response"' not in page.text
    refused = officer.post(
        f"/cases/{CLOSED_S1.portal_id}/respond",
        data={"response": "Done", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 409 and "Nothing was sent" in page_text(refused.text)
    api = officer.post(
        f"/api/v1/cases/{CLOSED_S1.portal_id}/respond",
        json={"text": "Done"},
        headers={"X-CSRF-Token": _token(officer)},
    )
    assert api.status_code == 409 and api.json() == {
        "error": "This case is closed, so it needs no reply"
    }


def test_the_api_replies_and_only_the_service_it_was_sent_to_may(built, officer) -> None:
    reply = {"text": "Scheduled for Tuesday"}
    sent = officer.post(
        f"/api/v1/cases/{STREET_LIGHT.portal_id}/respond",
        json=reply,
        headers={"X-CSRF-Token": _token(officer)},
    )
    assert sent.status_code == 202 and sent.json()["queued"] is True
    other_service = officer.post(
        f"/api/v1/cases/{POTHOLE.portal_id}/respond",
        json=reply,
        headers={"X-CSRF-Token": _token(officer)},
    )
    assert other_service.status_code == 404  # not their service: as if it did not exist
    for who in ("alice", "ms_alice", "team_leader"):
        client = TestClient(built.app, follow_redirects=False)
        sign_in(client, who)
        refused = client.post(
            f"/api/v1/cases/{STREET_LIGHT.portal_id}/respond",
            json=reply,
            headers={"X-CSRF-Token": _token(client)},
        )
        assert refused.status_code == 403, who
        assert "Reply for your service" not in client.get(f"/cases/{STREET_LIGHT.portal_id}").text
    refusals = [
        e for e in built.audit.events if e.action == "respond" and e.outcome is Outcome.REFUSED
    ]
    assert len(refusals) == 4  # the other service's case and the three member-side viewers
    empty = officer.post(
        f"/api/v1/cases/{STREET_LIGHT.portal_id}/respond",
        json={"text": ""},
        headers={"X-CSRF-Token": _token(officer)},
    )
    assert empty.status_code == 422


def test_only_a_closed_case_or_a_draft_takes_no_reply() -> None:
    examples = {CaseStatus.CLOSED: CLOSED_S1, CaseStatus.WITH_SERVICE: LAMP}
    for status in CaseStatus:
        case = examples.get(status) or make_case("alice", "X", service="S1", status=status)
        assert (why_no_reply(case) is None) is case.is_open, status
    assert why_no_reply(make_case("alice", "Y", status=CaseStatus.DRAFT)) == (
        "This case is a draft the councillor has not sent yet, so it takes no reply"
    )


def test_a_reopened_case_that_the_service_answers_is_no_longer_reopened() -> None:
    reopened = make_case(
        "alice",
        "Reopened lamp",
        service="S1",
        status=CaseStatus.REOPENED,
        closed_at=NOW - timedelta(days=2),
    )
    answered = responded_case(reopened, "S1", NOW)
    assert answered.status is CaseStatus.RESPONDED and answered.closed_at is None


def test_through_the_store_the_reply_and_the_change_are_queued_in_order_and_audited(
    tmp_path: Path,
) -> None:
    store = seeded_store(tmp_path / "c.sqlite", [*CASES, LAMP])
    app = create_app(
        PortalSettings(council_name="Northshire Council", secret_key=SECRET, https=False),
        accounts=ACCOUNTS,
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=MemoryDirectory(DIRECTORY.contacts, DIRECTORY.known),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        reports=store_reports(store, MemoryDirectory(DIRECTORY.contacts, DIRECTORY.known)),
        sign_in_failures=MemorySignInFailures(),
        parties=None,
        attachments=None,
        clock=lambda: NOW,
    )
    officer = TestClient(app, follow_redirects=False)
    sign_in(officer, "officer_s1")
    sent = officer.post(
        f"/api/v1/cases/{LAMP.portal_id}/respond",
        json={"text": "Made safe"},
        headers={"X-CSRF-Token": _token(officer)},
    )
    assert sent.status_code == 202
    with store.read() as conn:
        rows = conn.execute(
            sa.select(outbox.c.kind, outbox.c.payload, outbox.c.idempotency_key)
            .where(outbox.c.portal_id == str(LAMP.portal_id))
            .order_by(outbox.c.id)
        ).all()
        events = conn.execute(
            sa.select(audit_events.c.action, audit_events.c.actor).where(
                audit_events.c.subject_id == str(LAMP.portal_id)
            )
        ).all()
    assert [row.kind for row in rows] == ["service_response", "update_case"]
    assert rows[0].payload["text"] == "Reply from Highways:\n\nMade safe"
    assert rows[0].idempotency_key == sent.json()["key"]
    assert rows[1].payload["status"] == "responded"
    assert ("respond", "u-so") in [tuple(e) for e in events]
    alice = TestClient(app, follow_redirects=False)
    sign_in(alice, "alice")
    assert "Reply from a service" in page_text(alice.get(f"/cases/{LAMP.portal_id}").text)
    listed = alice.get("/api/v1/caseload").json()["cases"]
    [row] = [row for row in listed if row["portal_id"] == str(LAMP.portal_id)]
    assert row["status"] == "responded"
