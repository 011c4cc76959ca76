"""The resident look-up on the New enquiry page finds people in the sandbox CRM (by surname,
postcode or email) through `build_portal`, the connector and the profile's party mapping."""

from __future__ import annotations

import re
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from connector.base import CRMClient
from mappings import load_profile
from portal_extensions.config import PortalSettings
from portal_extensions.runtime import build_portal
from portal_extensions.store import Store
from portal_extensions.store.schema import members, parties, roles, user_roles, users, wards
from tests.connector.test_sandbox_integration import _dataverse
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.web_fixtures import PASSWORD, SECRET
from tests.store.sandbox_helpers import lagan_client


def _portal(tmp_path: Path, client: CRMClient, profile: str | None) -> TestClient:
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    now = datetime.now(UTC)
    with store.write() as conn:
        conn.execute(sa.insert(parties).values(id="p1", name="Red"))
        conn.execute(sa.insert(wards).values(id="w1", name="The ward"))
        conn.execute(
            sa.insert(members).values(id="m1", name="Cllr Look", party_id="p1", ward_id="w1")
        )
        if conn.execute(sa.select(roles.c.name).where(roles.c.name == "member")).first() is None:
            conn.execute(sa.insert(roles).values(name="member", description="A councillor"))
        conn.execute(
            sa.insert(users).values(
                id=1,
                username="cllr",
                display_name="Cllr Look",
                member_id="m1",
                password_hash=PasswordHasher(time_cost=1, memory_cost=1024).hash(PASSWORD),
                active=True,
                created_at=now,
            )
        )
        conn.execute(sa.insert(user_roles).values(user_id=1, role_name="member"))
    settings = PortalSettings(council_name="Look-up Council", secret_key=SECRET, https=False)
    mapping = load_profile(profile) if profile is not None else None
    portal = TestClient(build_portal(settings, store, client, mapping=mapping))
    assert sign_in(portal, "cllr").status_code == 303
    return portal


def _find(portal: TestClient, text: str) -> str:
    token = csrf_from(portal.get("/enquiries/new").text)
    page = portal.post("/enquiries/new/find", data={"find": text, "csrf_token": token})
    assert page.status_code == 200
    return page_text(page.text)


def _person(sandbox_crm: Any) -> dict[str, Any]:
    people = sorted(
        (p for p in sandbox_crm.store.parties.values() if p.get("email") and p.get("postcode")),
        key=lambda p: p["ref"],
    )
    person: dict[str, Any] = people[0]
    return person


@pytest.mark.sandbox_crm(cases=3, seed=21)
def test_the_lookup_finds_a_lagan_party_by_surname_postcode_and_email(
    sandbox_crm, tmp_path: Path
) -> None:
    person = _person(sandbox_crm)
    portal = _portal(tmp_path, lagan_client(sandbox_crm), None)  # profile from the client
    for text in (person["surname"], person["postcode"], person["email"]):
        page = _find(portal, text)
        assert "Residents found" in page, text
        assert f"{person['forename']} {person['surname']}" in page, text


@pytest.mark.sandbox_crm(cases=3, seed=21)
def test_the_lookup_finds_a_dataverse_contact_by_surname_postcode_and_email(
    sandbox_crm, tmp_path: Path
) -> None:
    person = _person(sandbox_crm)
    portal = _portal(tmp_path, _dataverse(sandbox_crm), "dynamics365")
    for text in (person["surname"], person["postcode"], person["email"]):
        page = _find(portal, text)
        assert "Residents found" in page, text
        assert f"{person['forename']} {person['surname']}" in page, text
        assert person["email"] not in page, text  # contact details only once chosen
        assert _pick(portal, text, person["postcode"])["email"] == person["email"], text


def _pick(portal: TestClient, text: str, postcode: str) -> dict[str, str]:
    """The form's resident fields once the resident found by `text` at `postcode` is picked
    (a council may hold several people of one name)."""
    token = csrf_from(portal.get("/enquiries/new").text)
    found = portal.post("/enquiries/new/find", data={"find": text, "csrf_token": token})
    cards = found.text.split('class="govuk-summary-card"')[1:]
    [pick] = [
        re.findall(r'name="pick" value="([0-9a-f]+)"', card)[0]
        for card in cards
        if postcode.replace(" ", "") in card.replace(" ", "")
    ]
    picked = portal.post(
        "/enquiries/new/prefill", data={"find": text, "pick": pick, "csrf_token": token}
    )
    assert picked.status_code == 200
    fields = r'name="(forename|surname|email|phone|postcode)"[^>]*value="([^"]*)"'
    return dict(re.findall(fields, picked.text))


@pytest.mark.sandbox_crm(cases=3, seed=21)
@pytest.mark.parametrize("crm", ["lagan", "dynamics365"])
def test_a_full_name_finds_the_crm_party_and_fills_in_each_field(
    sandbox_crm, tmp_path: Path, crm: str
) -> None:
    person = _person(sandbox_crm)
    client = lagan_client(sandbox_crm) if crm == "lagan" else _dataverse(sandbox_crm)
    portal = _portal(tmp_path, client, None if crm == "lagan" else crm)
    full_name = f"{person['forename']} {person['surname']}"
    assert "Residents found" in _find(portal, full_name)
    values = _pick(portal, full_name, person["postcode"])
    assert values["forename"] == person["forename"]
    assert values["surname"] == person["surname"]
    assert values["email"] == person["email"]
    assert values["postcode"].replace(" ", "") == person["postcode"].replace(" ", "")
    if person.get("phone"):
        assert values["phone"] == person["phone"]
