"""The resident look-up: its audit row records the search (as a keyed fingerprint) and whom it
showed (by identifiers), the words searched reach no log, and a list of results never carries a
resident's email or phone (those are for the resident chosen)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import Constituent, Location
from portal_extensions.casework.crm_sources import CRMPartySource
from portal_extensions.casework.lookup import search_fingerprint
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import StoreAccountAdmin
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import audit_events
from portal_extensions.web import create_app
from tests.portal.conftest import csrf_from, sign_in
from tests.portal.fakes import (
    MemoryDirectory,
    MemoryPartySource,
    MemorySessionRegistry,
    MemorySignInFailures,
)
from tests.portal.report_fixtures import store_reports
from tests.portal.test_web_sandbox import LAGAN, lagan_client
from tests.portal.web_fixtures import ACCOUNTS, CASES, SECRET, Built, build, make_case, stored
from tests.store.seeding import seeded_store

KEY = SECRET.encode()
WALKER = make_case(
    "alice",
    "Dog fouling",
    constituent=Constituent(
        crm_party_id="P-100",
        forename="Jo",
        surname="Walker",
        email="jo.walker@example.org",
        phone="01632 960 111",
        location=Location(postcode="NE2 1AB"),
    ),
)
CRM_WALKER = Constituent(
    crm_party_id="P-777",
    forename="Robin",
    surname="Walker",
    email="robin.walker@example.org",
    phone="07700 900 777",
    location=Location(postcode="NE1 4XY"),
)
CONTACT = ("jo.walker@example.org", "01632 960 111", "robin.walker@example.org", "07700 900 777")


def _find(client: TestClient, text: str):
    token = csrf_from(client.get("/enquiries/new").text)
    return client.post("/enquiries/new/find", data={"find": text, "csrf_token": token})


def _portal() -> Built:
    built = build(parties=MemoryPartySource([CRM_WALKER]))
    built.repository.put(stored(WALKER))
    return built


def test_a_list_of_residents_never_carries_their_email_or_phone() -> None:
    client = TestClient(_portal().app, follow_redirects=False)
    sign_in(client, "alice")
    page = _find(client, "walker")
    assert "Jo Walker" in page.text and "Robin Walker" in page.text
    assert "NE2 1AB" in page.text, "the postcode tells residents apart"
    for detail in CONTACT:
        assert detail not in page.text, detail
    token = client.get("/api/v1/session").json()["csrf_token"]
    found = client.post(
        "/api/v1/residents/search", json={"text": "walker"}, headers={"X-CSRF-Token": token}
    )
    assert {person["name"] for person in found.json()} == {"Jo Walker", "Robin Walker"}
    for detail in CONTACT:
        assert detail not in found.text, detail


def test_the_audit_row_records_the_search_and_whom_it_showed() -> None:
    built = _portal()
    client = TestClient(built.app, follow_redirects=False)
    sign_in(client, "alice")
    _find(client, "  WALKER ")
    [event] = [e for e in built.audit.events if e.action == "constituent_lookup"]
    assert event.actor == "u-alice" and event.detail is not None
    assert event.detail["search"] == search_fingerprint("walker", KEY)
    assert event.detail["search"] != search_fingerprint("walker", b"another portal's key")
    assert event.detail["shown"] == [
        {"source": "caseload", "crm_party_id": "P-100", "cases": [str(WALKER.portal_id)]},
        {"source": "crm", "crm_party_id": "P-777", "cases": []},
    ]
    assert "walker" not in str(event.detail).casefold(), "no words of the search are kept"
    _find(client, "nobody-by-this-name")
    nobody = [e for e in built.audit.events if e.action == "constituent_lookup"][-1]
    assert nobody.detail == {"search": search_fingerprint("nobody-by-this-name", KEY), "shown": []}


def test_the_store_keeps_the_look_up_detail(tmp_path: Path) -> None:
    store = seeded_store(tmp_path / "c.sqlite", [*CASES, WALKER])
    app = create_app(
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
    )
    client = TestClient(app, follow_redirects=False)
    sign_in(client, "alice")
    _find(client, "NE2 1AB")
    with store.read() as conn:
        [detail] = conn.execute(
            sa.select(audit_events.c.detail).where(audit_events.c.action == "constituent_lookup")
        ).scalars()
    store.close()
    assert detail == {
        "outcome": "allowed",
        "search": search_fingerprint("ne2 1ab", KEY),
        "shown": [
            {"source": "caseload", "crm_party_id": "P-100", "cases": [str(WALKER.portal_id)]}
        ],
    }


@pytest.mark.sandbox_crm(cases=5, seed=3)
def test_no_log_line_echoes_the_words_searched(
    sandbox_crm, caplog: pytest.LogCaptureFixture
) -> None:
    """A look-up through the real connector (the sandbox's SOAP party search), logged at
    DEBUG: the words typed appear in no log record, whether or not anybody is found."""
    person = next(iter(sandbox_crm.store.parties.values()))
    crm = lagan_client(sandbox_crm)
    try:
        built = build(parties=CRMPartySource(crm, LAGAN.to_constituent))
        client = TestClient(built.app, follow_redirects=False)
        sign_in(client, "alice")
        words = [person["surname"], person["postcode"], "Zebedee-Unfindable"]
        with caplog.at_level(logging.DEBUG):
            for text in words:
                assert _find(client, text).status_code == 200
        found = _find(client, person["surname"])
        assert person["surname"] in found.text, "the CRM was searched"
    finally:
        crm.close()
    logged = "\n".join(
        f"{record.getMessage()} {record.args!r} {getattr(record, '__dict__', {})!r}"
        for record in caplog.records
    ).casefold()
    assert caplog.records, "the look-up was logged at all"
    for text in words:
        assert text.casefold() not in logged, text
