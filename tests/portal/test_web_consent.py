"""The constituent's choices on the case page and the API: sharing, named cover with an end
date, and authority. A withdrawal changes the index in the same transaction as the outbox row
and its audit event, so it takes effect on every route at once, before the CRM confirms."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from mappings.model import SharingLevel
from portal_extensions.access import Action, can_act
from portal_extensions.config import PortalSettings
from portal_extensions.store.accounts import StoreAccountAdmin
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import audit_events, outbox
from portal_extensions.web import create_app
from tests.portal.access_fixtures import NOW, TODAY, VIEWERS
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.web_fixtures import ACCOUNTS, CASES, SECRET, stored
from tests.store.seeding import seeded_store

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")  # alice, ward-shared
FLY_TIPPING = next(c for c in CASES if c.title == "Fly-tipping behind the shops")  # private
COVER = next(c for c in CASES if c.title == "Cover during holiday")  # named: dave
WITHDRAWN = next(c for c in CASES if c.title == "Withdrawn ward case")


def _token(client: TestClient) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


def test_only_the_owner_their_staff_and_the_team_leader_manage_consent() -> None:
    named = stored(COVER).facts
    for name in ("alice", "ms_alice", "team_leader"):
        assert can_act(VIEWERS[name], named, Action.MANAGE_CONSENT, NOW), name
    for name in ("dave", "bob", "officer_s1", "admin"):  # cover, ward colleague, service, admin
        assert not can_act(VIEWERS[name], named, Action.MANAGE_CONSENT, NOW), name
    # After a withdrawal the owner's side may still record the constituent's authority anew.
    assert can_act(VIEWERS["alice"], stored(WITHDRAWN).facts, Action.MANAGE_CONSENT, NOW)


def test_a_named_cover_colleague_cannot_change_the_sharing(client) -> None:
    sign_in(client, "dave")
    response = client.post(
        f"/api/v1/cases/{COVER.portal_id}/sharing",
        json={"level": "ward"},
        headers={"X-CSRF-Token": _token(client)},
    )
    assert response.status_code == 403


def test_sharing_with_the_ward_shows_the_case_to_colleagues_at_once(built) -> None:
    alice = TestClient(built.app, follow_redirects=False)
    bob = TestClient(built.app, follow_redirects=False)
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    assert bob.get(f"/cases/{FLY_TIPPING.portal_id}").status_code == 404
    case_page = alice.get(f"/cases/{FLY_TIPPING.portal_id}")
    assert f'href="/cases/{FLY_TIPPING.portal_id}/sharing"' in case_page.text
    page = alice.get(f"/cases/{FLY_TIPPING.portal_id}/sharing")
    assert "Who else may see it?" in page.text and "Shared now with: Nobody else" in page.text
    shared = alice.post(
        f"/cases/{FLY_TIPPING.portal_id}/sharing",
        data={"sharing": "ward", "csrf_token": csrf_from(page.text)},
    )
    assert shared.status_code == 303
    assert bob.get(f"/cases/{FLY_TIPPING.portal_id}").status_code == 200
    after = alice.get(f"/cases/{FLY_TIPPING.portal_id}")
    assert "Changes to the case by u-alice" in page_text(after.text)
    assert "Sharing saved." in page_text(after.text)
    events = [e for e in built.audit.events if e.action == "change_sharing"]
    assert [(e.actor, e.subject_id) for e in events] == [("u-alice", str(FLY_TIPPING.portal_id))]


def test_named_cover_needs_a_colleague_and_a_real_future_end_date(client) -> None:
    sign_in(client, "alice")
    url = f"/cases/{FLY_TIPPING.portal_id}/sharing"
    token = csrf_from(client.get(url).text)
    no_colleague = client.post(url, data={"sharing": "named", "csrf_token": token})
    assert no_colleague.status_code == 422
    assert 'id="colleague_id-error"' in no_colleague.text
    assert 'href="#colleague_id"' in no_colleague.text
    past = TODAY - timedelta(days=1)
    typed = {
        "sharing": "named",
        "colleague_id": "bob",
        "cover_until-day": str(past.day),
        "cover_until-month": str(past.month),
        "cover_until-year": str(past.year),
        "csrf_token": token,
    }
    in_the_past = client.post(url, data=typed)
    assert in_the_past.status_code == 422
    assert "The end date must be today or in the future" in in_the_past.text
    assert f'value="{past.year}"' in in_the_past.text  # what was typed is kept
    assert '<option value="bob" selected' in in_the_past.text
    nonsense = client.post(url, data={**typed, "cover_until-day": "31", "cover_until-month": "2"})
    assert nonsense.status_code == 422 and "must be a real date" in nonsense.text
    huge = client.post(url, data={**typed, "cover_until-year": "9" * 30, "colleague_id": "b" * 99})
    assert huge.status_code == 422 and "must be a real date" in huge.text  # no dead end
    assert "The named colleague must be 64 characters or fewer" in huge.text
    ok = client.post(url, data={**typed, "cover_until-day": str(TODAY.day)})
    assert ok.status_code == 303


def test_named_cover_reaches_the_colleague_until_the_end_date(built) -> None:
    alice = TestClient(built.app, follow_redirects=False)
    sign_in(alice, "alice")
    response = alice.post(
        f"/api/v1/cases/{FLY_TIPPING.portal_id}/sharing",
        json={"level": "named", "colleague_id": "dave", "until": TODAY.isoformat()},
        headers={"X-CSRF-Token": _token(alice)},
    )
    assert response.status_code == 202
    case = built.repository.get(FLY_TIPPING.portal_id)
    assert case is not None and case.case.sharing.until == TODAY
    dave = TestClient(built.app, follow_redirects=False)
    sign_in(dave, "dave")
    assert dave.get(f"/cases/{FLY_TIPPING.portal_id}").status_code == 200  # last day: still


def test_withdrawing_twice_is_a_conflict_and_recording_again_shares_with_nobody(built) -> None:
    alice = TestClient(built.app, follow_redirects=False)
    bob = TestClient(built.app, follow_redirects=False)
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    headers = {"X-CSRF-Token": _token(alice)}
    url = f"/api/v1/cases/{WITHDRAWN.portal_id}/authority"
    assert alice.post(url, json={"decision": "withdraw"}, headers=headers).status_code == 409
    assert bob.get(f"/cases/{WITHDRAWN.portal_id}").status_code == 404
    assert alice.post(url, json={"decision": "record"}, headers=headers).status_code == 202
    # Authority given again does not bring back the old ward sharing: it is asked for again.
    again = built.repository.get(WITHDRAWN.portal_id)
    assert again is not None and again.case.sharing.level is SharingLevel.PRIVATE
    assert bob.get(f"/cases/{WITHDRAWN.portal_id}").status_code == 404


def _store_app(tmp_path: Path):
    store = seeded_store(tmp_path / "caseload.sqlite", CASES)
    settings = PortalSettings.model_validate(
        {"council_name": "Northshire Council", "secret_key": SECRET, "https": False}
    )
    app = create_app(
        settings,
        accounts=ACCOUNTS,
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
        clock=lambda: NOW,
    )
    return store, app


def test_a_withdrawal_ends_a_ward_colleagues_view_on_every_route_at_once(tmp_path) -> None:
    store, app = _store_app(tmp_path)
    alice = TestClient(app, follow_redirects=False)
    bob = TestClient(app, follow_redirects=False)
    sign_in(alice, "alice")
    sign_in(bob, "bob")
    case_id = str(BROKEN_LIGHT.portal_id)

    def bob_sees() -> dict[str, bool]:
        return {
            "page": bob.get(f"/cases/{case_id}").status_code == 200,
            "api": bob.get(f"/api/v1/cases/{case_id}").status_code == 200,
            "caseload": case_id in bob.get("/api/v1/caseload?whose=all").text,
            "ward": case_id in bob.get("/api/v1/ward").text,
            "ward page": "Broken street light" in bob.get("/ward").text,
            "search": case_id
            in bob.post(
                "/api/v1/search",
                json={"text": "street light"},
                headers={"X-CSRF-Token": _token(bob)},
            ).text,
        }

    assert all(bob_sees().values()), bob_sees()
    page = alice.get(f"/cases/{case_id}/authority/withdraw")
    assert "Yes, withdraw authority" in page.text
    withdrawn = alice.post(
        f"/cases/{case_id}/authority",
        data={"decision": "withdraw", "csrf_token": csrf_from(page.text)},
    )
    assert withdrawn.status_code == 303
    assert not any(bob_sees().values()), bob_sees()
    missing = bob.get("/cases/00000000-0000-0000-0000-000000c0ffee")
    refused = bob.get(f"/cases/{case_id}")
    assert refused.status_code == 404 and refused.text.replace(
        csrf_from(refused.text), ""
    ) == missing.text.replace(csrf_from(missing.text), "")
    # The CRM has not confirmed anything: the change is queued, and audited with it.
    with store.read() as conn:
        states = conn.execute(
            sa.select(outbox.c.kind, outbox.c.state).where(outbox.c.portal_id == case_id)
        ).all()
        actions = set(
            conn.execute(
                sa.select(audit_events.c.action).where(audit_events.c.subject_id == case_id)
            ).scalars()
        )
    assert ("update_case", "queued") in [tuple(row) for row in states]
    assert {"withdraw_authority", "outbox.update_case.queued"} <= actions
    # The owner still sees it, marked withdrawn, and can only close it or record authority.
    owner = alice.get(f"/api/v1/cases/{case_id}").json()
    assert owner["case"]["authority"]["withdrawn_at"] is not None
    assert owner["actions"] == ["close", "manage_consent"]
    # Sharing ends with the authority it rested on: the page no longer names anyone.
    assert SharingLevel(owner["case"]["sharing"]["level"]) is SharingLevel.PRIVATE
    after = page_text(alice.get(f"/cases/{case_id}").text)
    assert "Authority withdrawn. Nobody else can see the case now." in after
    assert "Ward colleagues" not in after and "Record authority" in after
    assert "Withdraw authority" not in after and "Change sharing" not in after


def test_the_authority_pages_offer_only_what_the_case_state_allows(client) -> None:
    sign_in(client, "alice")
    withdrawn = client.get(f"/cases/{WITHDRAWN.portal_id}/authority/withdraw")
    assert withdrawn.status_code == 200 and "nothing to withdraw" in withdrawn.text
    assert "Yes, withdraw authority" not in withdrawn.text
    record = client.get(f"/cases/{WITHDRAWN.portal_id}/authority")
    assert "Record the constituent&#39;s authority" in record.text
    assert 'name="decision" value="record"' in record.text
    in_force = client.get(f"/cases/{FLY_TIPPING.portal_id}/authority")
    assert "Record explicit consent" in in_force.text  # in force, without explicit consent
    special = next(c for c in CASES if c.title == "Housing adaptation")  # explicit consent
    done = client.get(f"/cases/{special.portal_id}/authority")
    assert "nothing more to record" in done.text and 'name="decision"' not in done.text
