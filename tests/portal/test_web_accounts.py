"""Administrators manage accounts in the portal: list, add (a password shown once, or single
sign-on only), role and links, a new password, disable and enable. On one real store for the
pages and for signing in, so each change is proved by what the person can then do; every change
audited with the administrator as actor; never their own account."""

from __future__ import annotations

import html
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.config import PortalSettings
from portal_extensions.store import Store
from portal_extensions.store.accounts import StoreAccountAdmin, StoreAccounts, find_user
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreDirectory, StoreEnquiryOptions
from portal_extensions.store.schema import audit_events, users
from portal_extensions.store.sessions import StoreSessionRegistry
from portal_extensions.store.sign_in_failures import StoreSignInFailures
from portal_extensions.web import create_app
from tests.portal.access_fixtures import NOW
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.report_fixtures import store_reports
from tests.portal.web_fixtures import _HASH, CASES, PASSWORD, SECRET
from tests.store.seeding import seeded_store

ONE_TIME = re.compile(r'id="one-time-password">([^<]+)<')


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = seeded_store(tmp_path / "accounts.sqlite", CASES[:1])
    with store.write() as conn:  # every fixture account signs in with the fixture password
        conn.execute(sa.update(users).values(password_hash=_HASH))
    return store


@pytest.fixture
def app(store: Store):
    return create_app(
        PortalSettings(council_name="Northshire Council", secret_key=SECRET, https=False),
        accounts=StoreAccounts(store),
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=StoreDirectory(store),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=StoreSessionRegistry(store),
        reports=store_reports(store, StoreDirectory(store)),
        sign_in_failures=StoreSignInFailures(store),
        parties=None,
        attachments=None,
        clock=lambda: NOW,
    )


def _client(app, who: str | None = None, password: str = PASSWORD) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    if who is not None:
        assert sign_in(client, who, password).status_code == 303, who
    return client


@pytest.fixture
def admin(app) -> TestClient:
    return _client(app, "admin")


def _id(store: Store, username: str) -> int:
    with store.read() as conn:
        found = find_user(conn, username)
    assert found is not None
    return found.id


def _events(store: Store, action: str) -> list[sa.Row[Any]]:
    with store.read() as conn:
        return list(
            conn.execute(
                sa.select(audit_events.c.actor, audit_events.c.subject_id, audit_events.c.detail)
                .where(audit_events.c.action == action)
                .order_by(audit_events.c.id)
            )
        )


def _token(client: TestClient) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


def _can_sign_in(app, who: str, password: str) -> bool:
    answer = sign_in(TestClient(app, follow_redirects=False), who, password)
    return bool(answer.status_code == 303)


def test_the_list_shows_every_account_its_role_links_and_state(admin, store) -> None:
    page = admin.get("/accounts")
    assert page.status_code == 200
    text = html.unescape(page_text(page.text))
    for shown in (
        "alice Councillor Alice Active",
        "ms_alice Members' Services officer Supports Alice Active",
        "officer_s1 Service officer Street Lighting Active",
        "team_leader Members' Services team leader Active",
    ):
        assert shown in text, shown
    listed = admin.get("/api/v1/accounts").json()["accounts"]
    assert {a["username"] for a in listed} >= {"admin", "alice", "bob", "officer_s1"}
    assert "argon2" not in page.text and "argon2" not in str(listed)
    assert [e.actor for e in _events(store, "view_accounts")] == ["admin", "admin"]


def test_a_new_account_gets_a_password_shown_once_and_can_sign_in_with_it(
    app, admin, store
) -> None:
    form = admin.get("/accounts/new")
    made = admin.post(
        "/accounts/new",
        data={
            "csrf_token": csrf_from(form.text),
            "display_name": "Deepa Patel",
            "username": "deepa.patel@northshire.example",
            "email": "deepa.patel@northshire.example",
            "role": "service_officer",
            "officer_id": "o1",
            "member_id": "alice",  # left over from another choice: ignored for this role
            "sign_in": "password",
        },
    )
    assert made.status_code == 200
    assert "Account added" in made.text and "This is the only time" in made.text
    found = ONE_TIME.search(made.text)
    assert found is not None
    password = found.group(1)
    assert re.fullmatch(r"([a-z2-9]{4}-){4}[a-z2-9]{4}", password)
    person = _client(app, "Deepa.Patel@northshire.example", password)
    assert person.get("/api/v1/session").json()["role"] == "service_officer"
    listed = page_text(person.get("/caseload").text)
    assert "Cases sent to your service" in listed
    user_id = _id(store, "deepa.patel@northshire.example")
    account_page = admin.get(f"/accounts/{user_id}").text
    assert password not in account_page and "Street Lighting" in page_text(account_page)
    [event] = _events(store, "user.create")
    assert event.actor == "admin" and event.subject_id == str(user_id)
    assert event.detail["officer_id"] == "o1" and event.detail["member_id"] is None
    assert password not in str(event.detail)


def test_an_account_for_single_sign_on_has_no_password(admin, store) -> None:
    made = admin.post(
        "/api/v1/accounts",
        json={"username": "sso-only", "display_name": "Sso Only", "role": "team_leader"}
        | {"sign_in": "sso"},
        headers={"X-CSRF-Token": _token(admin)},
    )
    assert made.status_code == 201
    body = made.json()
    assert body["password"] is None and body["account"]["has_password"] is False
    assert body["account"]["role"] == "team_leader"


def test_problems_are_shown_beside_their_fields_and_nothing_typed_is_lost(admin, store) -> None:
    token = csrf_from(admin.get("/accounts/new").text)
    empty = admin.post("/accounts/new", data={"csrf_token": token})
    assert empty.status_code == 422
    for field_id, message in (
        ("display_name", "Enter the person&#39;s name"),
        ("username", "Enter a user name"),
        ("role", "Select the account&#39;s role"),
    ):
        assert f'href="#{field_id}"' in empty.text and message in empty.text
    typed = {
        "csrf_token": token,
        "display_name": "Second Alice",
        "username": "ALICE",
        "email": "second.alice@northshire.example",
        "role": "member",
        "member_id": "alice",
        "sign_in": "password",
    }
    taken = admin.post("/accounts/new", data=typed)
    assert taken.status_code == 422
    assert "A user named &#39;alice&#39; already exists" in taken.text
    assert 'href="#username"' in taken.text
    assert 'value="second.alice@northshire.example"' in taken.text  # kept
    too_long = admin.post("/accounts/new", data={**typed, "display_name": "N" * 201})
    assert too_long.status_code == 422 and 'href="#display_name"' in too_long.text
    assert "The display name is 201 characters long: use at most 200" in too_long.text
    no_councillor = admin.post(
        "/accounts/new", data={**typed, "username": "alice2", "member_id": ""}
    )
    assert no_councillor.status_code == 422
    assert "Select the councillor this account belongs to" in no_councillor.text
    no_support = admin.post(
        "/accounts/new", data={**typed, "username": "ms2", "role": "members_services"}
    )
    assert "Select at least one councillor they support" in no_support.text
    unknown = admin.post(
        "/api/v1/accounts",
        json={"username": "x", "display_name": "X", "role": "member", "member_id": "zed"},
        headers={"X-CSRF-Token": _token(admin)},
    )
    assert unknown.status_code == 422
    assert "member id 'zed' is not in the directory" in unknown.json()["fields"]["member_id"]
    assert _events(store, "user.create") == []


def test_a_new_role_applies_at_the_persons_next_request_and_is_audited(app, admin, store) -> None:
    bob = _client(app, "bob")
    assert bob.get("/api/v1/session").json()["role"] == "member"
    user_id = _id(store, "bob")
    page = admin.get(f"/accounts/{user_id}")
    saved = admin.post(
        f"/accounts/{user_id}/role",
        data={
            "csrf_token": csrf_from(page.text),
            "role": "members_services",
            "supports": ["alice", "carol"],
        },
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/accounts/{user_id}?done=role"
    after = page_text(admin.get(saved.headers["location"]).text)
    assert "The role was saved" in after and "Supports Alice, Carol" in after
    assert bob.get("/api/v1/session").json()["role"] == "members_services"
    [event] = _events(store, "user.change_role")
    assert event.actor == "admin"
    assert event.detail["supports"] == ["alice", "carol"]
    assert event.detail["before"]["role"] == "member"
    again = admin.post(
        f"/api/v1/accounts/{user_id}/role",
        json={"role": "members_services", "supports": ["carol", "alice"]},
        headers={"X-CSRF-Token": _token(admin)},
    )
    assert again.status_code == 200 and again.json()["changed"] is False
    assert len(_events(store, "user.change_role")) == 1  # nothing changed, nothing recorded
    viewed = _events(store, "view_account")  # the two pages shown, not the changes
    assert [(e.actor, e.subject_id) for e in viewed] == [("admin", str(user_id))] * 2


def test_disabling_signs_the_person_out_at_once_and_enabling_lets_them_back(
    app, admin, store
) -> None:
    alice = _client(app, "alice")
    user_id = _id(store, "alice")
    page = admin.get(f"/accounts/{user_id}")
    disabled = admin.post(f"/accounts/{user_id}/disable", data={"csrf_token": csrf_from(page.text)})
    assert disabled.status_code == 303
    assert "Disabled" in page_text(admin.get("/accounts").text)
    assert alice.get("/api/v1/session").status_code == 401
    assert not _can_sign_in(app, "alice", PASSWORD)
    enabled = admin.post(
        f"/api/v1/accounts/{user_id}/enable", headers={"X-CSRF-Token": _token(admin)}
    )
    assert enabled.status_code == 200 and enabled.json()["account"]["active"] is True
    assert _can_sign_in(app, "alice", PASSWORD)
    assert [e.actor for e in _events(store, "user.deactivate")] == ["admin"]
    assert [e.actor for e in _events(store, "user.reactivate")] == ["admin"]


def test_a_new_password_replaces_the_old_one_and_ends_every_session(app, admin, store) -> None:
    carol = _client(app, "carol")
    user_id = _id(store, "carol")
    page = admin.get(f"/accounts/{user_id}")
    reset = admin.post(f"/accounts/{user_id}/password", data={"csrf_token": csrf_from(page.text)})
    assert reset.status_code == 200 and "New password set" in reset.text
    found = ONE_TIME.search(reset.text)
    assert found is not None
    assert carol.get("/api/v1/session").status_code == 401
    assert not _can_sign_in(app, "carol", PASSWORD)
    assert _can_sign_in(app, "carol", found.group(1))
    by_api = admin.post(
        f"/api/v1/accounts/{user_id}/password", headers={"X-CSRF-Token": _token(admin)}
    )
    assert by_api.status_code == 200 and by_api.json()["password"] != found.group(1)
    assert [e.actor for e in _events(store, "user.set_password")] == ["admin", "admin"]


def test_an_administrator_cannot_lock_themselves_out(app, admin, store) -> None:
    own = _id(store, "admin")
    page = admin.get(f"/accounts/{own}")
    assert "This is your own account" in page_text(page.text)
    assert "Disable account" not in page.text and "Save role" not in page.text
    token = csrf_from(page.text)
    for action, data in (
        ("disable", {}),
        ("password", {}),
        ("role", {"role": "team_leader"}),
    ):
        refused = admin.post(f"/accounts/{own}/{action}", data={"csrf_token": token, **data})
        assert refused.status_code == 409, action
        assert "You cannot" in refused.text and "Nothing was changed" in page_text(refused.text)
    api = admin.post(f"/api/v1/accounts/{own}/disable", headers={"X-CSRF-Token": _token(admin)})
    assert api.status_code == 409
    assert admin.get("/api/v1/session").json()["role"] == "administrator"
    assert _events(store, "user.deactivate") == [] and _events(store, "user.change_role") == []


def test_unknown_accounts_and_forged_forms_change_nothing(app, admin, store) -> None:
    assert admin.get("/accounts/999").status_code == 404
    missing = admin.post("/api/v1/accounts/999/disable", headers={"X-CSRF-Token": _token(admin)})
    assert missing.status_code == 404
    forged = admin.post(f"/accounts/{_id(store, 'bob')}/disable", data={})
    assert forged.status_code == 403
    assert _can_sign_in(app, "bob", PASSWORD)
    member = _client(app, "bob")
    assert member.get("/accounts").status_code == 403
    assert "/accounts" not in member.get("/directory").text
