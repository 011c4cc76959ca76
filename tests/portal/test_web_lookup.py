"""Finding a resident on the new enquiry form (index and CRM), seeing only the earlier
enquiries the viewer may see, and picking one to fill the form in; named cover end dates."""

from __future__ import annotations

import warnings
from datetime import timedelta
from pathlib import Path

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import re
from typing import cast

from connector.base import CRMClient
from connector.errors import CRMUnavailable
from mappings.model import Constituent, Location
from portal_extensions.casework.crm_sources import CRMPartySource
from portal_extensions.casework.lookup import party_queries
from portal_extensions.casework.ports import PartyQuery
from portal_extensions.store.case_reads import StoreCaseRepository
from tests.portal.access_fixtures import NOW, TODAY, VIEWERS
from tests.portal.conftest import csrf_from, sign_in
from tests.portal.fakes import MemoryCaseRepository, MemoryPartySource
from tests.portal.web_fixtures import CASES, build, make_case, stored
from tests.store.seeding import seeded_store

CRM_PERSON = Constituent(
    crm_party_id="P-777",
    forename="Robin",
    surname="Resident-Crm",
    email="robin@example.org",
    location=Location(postcode="NE1 4XY"),
)
WITH_CONTACT = make_case(
    "alice",
    "Dog fouling",
    constituent=Constituent(
        forename="Jo",
        surname="Walker",
        email="jo.walker@example.org",
        location=Location(postcode="NE2 1AB"),
    ),
)


def _post(client: TestClient, path: str, data: dict[str, str]):
    token = csrf_from(client.get("/enquiries/new").text)
    return client.post(path, data={**data, "csrf_token": token})


def test_a_member_finds_a_resident_with_earlier_enquiries_and_their_choices(client) -> None:
    sign_in(client, "alice")
    page = _post(client, "/enquiries/new/find", {"find": "resident-broken"})
    assert page.status_code == 200
    assert "Residents found" in page.text
    assert "Broken street light" in page.text
    assert "Authority given (this enquiry)" in page.text
    assert "Shared with ward councillors" in page.text


def test_the_look_up_api_gives_the_same_answers(client) -> None:
    sign_in(client, "bob")
    headers = {"X-CSRF-Token": client.get("/api/v1/session").json()["csrf_token"]}
    url = "/api/v1/residents/search"
    [found] = client.post(url, json={"text": "Resident-Broken"}, headers=headers).json()
    assert found["source"] == "Caseload" and found["prefill"]["surname"] == "Resident-Broken str"
    assert "sharing" not in found["prefill"] and "explicit_consent" not in found["prefill"]
    assert [p["title"] for p in found["previous"]] == ["Broken street light"]
    assert client.post(url, json={"text": "Resident-Fly-tippin"}, headers=headers).json() == []


def test_the_look_up_shows_only_enquiries_the_viewer_may_see(client) -> None:
    sign_in(client, "bob")  # alice's ward colleague
    shared = _post(client, "/enquiries/new/find", {"find": "Resident-Broken"})
    assert "Broken street light" in shared.text  # shared with the ward
    private = _post(client, "/enquiries/new/find", {"find": "Resident-Fly-tippin"})
    assert "No residents found" in private.text and "Fly-tipping" not in private.text
    withdrawn = _post(client, "/enquiries/new/find", {"find": "Resident-Withdrawn"})
    assert "No residents found" in withdrawn.text


PICK = re.compile(r'name="pick" value="([0-9a-f]+)"')


def test_picking_a_resident_fills_in_who_they_are_but_never_their_consent(client) -> None:
    sign_in(client, "alice")
    found = _post(client, "/enquiries/new/find", {"find": "Resident-Broken"})
    # The pick names the answer without saying who it is: no details in hidden fields.
    assert 'name="surname"' not in found.text.split('action="/enquiries/new"')[0]
    [pick] = PICK.findall(found.text)
    picked = _post(client, "/enquiries/new/prefill", {"find": "Resident-Broken", "pick": pick})
    assert picked.status_code == 200
    assert 'spellcheck="false" value="Resident-Broken str"' in picked.text
    # The earlier enquiry was shared with the ward under authority in force: shown as
    # information, never chosen for this enquiry.
    assert "not carried over" in picked.text and "Shared with ward councillors" in picked.text
    assert " checked" not in picked.text  # no sharing, no consent ticked
    stale = _post(client, "/enquiries/new/prefill", {"find": "Resident-Broken", "pick": "0" * 24})
    assert stale.status_code == 422 and "find them and pick them again" in stale.text


def test_crm_people_are_found_and_an_enquiry_links_to_their_party() -> None:
    built = build(parties=MemoryPartySource([CRM_PERSON]))
    client = TestClient(built.app, follow_redirects=False)
    sign_in(client, "alice")
    found = _post(client, "/enquiries/new/find", {"find": "robin@example.org"})
    assert "From Council CRM" in found.text
    [pick] = PICK.findall(found.text)
    picked = _post(client, "/enquiries/new/prefill", {"find": "robin@example.org", "pick": pick})
    form = {
        "crm_party_id": "P-777",
        "surname": "Resident-Crm",
        "category": "roads",
        "title": "Loose paving",
        "channel": "phone",
        "sharing": "private",
        "csrf_token": csrf_from(picked.text),
    }
    assert 'name="crm_party_id" value="P-777"' in picked.text
    assert client.post("/enquiries/new", data=form).status_code == 303
    [new] = [s for s in built.repository._cases.values() if s.case.title == "Loose paving"]
    assert new.case.constituent.crm_party_id == "P-777"
    lookups = [e for e in built.audit.events if e.action == "constituent_lookup"]
    # The look-up, and the pick's (which asks again rather than trust posted details).
    assert len(lookups) == 2 and all(e.subject_id is None for e in lookups)  # no words


def test_store_and_reference_find_the_same_residents(tmp_path: Path) -> None:
    everything = [*CASES, WITH_CONTACT]
    store_repo = StoreCaseRepository(seeded_store(tmp_path / "c.sqlite", everything))
    reference = MemoryCaseRepository(stored(case) for case in everything)
    for name in ("alice", "bob", "carol", "ms_alice", "team_leader", "officer_s1"):
        for text in ("walker", "JO.WALKER@example.org", "ne21ab", "NE2 1AB", "resident", "x"):
            expected = [
                s.case.portal_id
                for s in reference.find_by_constituent(VIEWERS[name], NOW, text, limit=50)
            ]
            got = [
                s.case.portal_id
                for s in store_repo.find_by_constituent(VIEWERS[name], NOW, text, limit=50)
            ]
            assert got == expected, (name, text)
    assert reference.find_by_constituent(VIEWERS["alice"], NOW, "ne21ab", limit=5)
    assert not reference.find_by_constituent(VIEWERS["carol"], NOW, "walker", limit=5)


def test_a_new_enquiry_records_the_named_cover_end_date(built, client) -> None:
    sign_in(client, "alice")
    page = client.get("/enquiries/new")
    until = TODAY + timedelta(days=14)
    form = {
        "surname": "Cover",
        "category": "roads",
        "title": "Holiday cover",
        "channel": "email",
        "sharing": "named",
        "colleague_id": "bob",
        "cover_until-day": str(until.day),
        "cover_until-month": str(until.month),
        "cover_until-year": str(until.year),
        "csrf_token": csrf_from(page.text),
    }
    assert client.post("/enquiries/new", data=form).status_code == 303
    [new] = [s for s in built.repository._cases.values() if s.case.title == "Holiday cover"]
    assert new.case.sharing.colleague_id == "bob" and new.case.sharing.until == until
    wrong = client.post("/enquiries/new", data={**form, "cover_until-month": "13"})
    assert wrong.status_code == 422
    assert 'href="#cover_until"' in wrong.text and "must be a real date" in wrong.text
    assert 'value="13"' in wrong.text and 'value="Holiday cover"' in wrong.text


class FakePartyClient:
    """Only what `CRMPartySource` calls: the connector's party search."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.asked: list[dict[str, object]] = []

    def search_parties(self, **criteria: object) -> list[dict[str, str]]:
        self.asked.append(criteria)
        if self.fail:
            raise CRMUnavailable("the CRM did not answer", operation="search_parties")
        return [{"id": "P-9", "surname": "Resident-Crm"}, {"id": "bad", "surname": ""}]


def _to_constituent(raw: dict[str, str]) -> Constituent:
    return Constituent(crm_party_id=raw["id"], surname=raw["surname"])


def test_what_is_typed_becomes_the_crm_search_both_connectors_offer() -> None:
    assert party_queries("  robin@example.org ") == [PartyQuery(email="robin@example.org")]
    assert party_queries("ne1 4xy") == [PartyQuery(postcode="NE1 4XY")]
    assert party_queries("Usman") == [PartyQuery(surname="Usman")]
    assert party_queries(" Quinn  Usman ") == [
        PartyQuery(surname="Usman", forename="Quinn"),
        PartyQuery(surname="Quinn Usman"),  # a double-barrelled surname typed with a space
    ]
    assert party_queries("Mary Ann Smith")[0] == PartyQuery(surname="Smith", forename="Mary Ann")
    assert party_queries("   ") == []


def test_the_crm_is_asked_each_criterion_and_bad_records_are_skipped() -> None:
    client = FakePartyClient()
    source = CRMPartySource(cast(CRMClient, client), _to_constituent)
    found = source.find_people(PartyQuery(email="robin@example.org"), limit=5)
    assert [p.crm_party_id for p in found] == ["P-9"]
    source.find_people(PartyQuery(postcode="NE1 4XY"), limit=5)
    source.find_people(PartyQuery(surname="Usman", forename="Quinn"), limit=5)
    assert source.find_people(PartyQuery(), limit=5) == []  # nothing to ask: not asked
    assert client.asked == [
        {"email": "robin@example.org", "limit": 5},
        {"postcode": "NE1 4XY", "limit": 5},
        {"name": "Usman", "forename": "Quinn", "limit": 5},
    ]


QUINN = Constituent(
    crm_party_id="P-Q1",
    forename="Quinn",
    surname="Usman",
    email="quinn.usman@example.org",
    phone="01632 960 123",
    location=Location(postcode="NE3 5QU"),
)


def test_a_full_name_finds_the_resident_and_picking_fills_each_field_from_the_crm() -> None:
    # The index knows her from a case synced from the CRM: the display name kept whole in
    # the surname, no email or phone (as the Lagan profile maps a case's party).
    synced = make_case(
        "alice",
        "Bins not collected",
        constituent=Constituent(crm_party_id="P-Q1", surname="Quinn Usman"),
    )
    built = build(parties=MemoryPartySource([QUINN]))
    built.repository.put(stored(synced))
    client = TestClient(built.app, follow_redirects=False)
    sign_in(client, "alice")
    found = _post(client, "/enquiries/new/find", {"find": "Quinn Usman"})
    assert found.text.count('name="pick"') == 1  # the index's and the CRM's are one person
    assert "Bins not collected" in found.text
    [pick] = PICK.findall(found.text)
    picked = _post(client, "/enquiries/new/prefill", {"find": "Quinn Usman", "pick": pick})
    values = dict(
        re.findall(
            r'name="(forename|surname|email|phone|postcode)"[^>]*value="([^"]*)"', picked.text
        )
    )
    assert values == {
        "forename": "Quinn",
        "surname": "Usman",
        "email": "quinn.usman@example.org",
        "phone": "01632 960 123",
        "postcode": "NE3 5QU",
    }


def test_when_the_crm_cannot_be_searched_the_page_says_so_and_shows_the_index() -> None:
    source = CRMPartySource(cast(CRMClient, FakePartyClient(fail=True)), _to_constituent)
    built = build(parties=source)
    client = TestClient(built.app, follow_redirects=False)
    sign_in(client, "alice")
    page = _post(client, "/enquiries/new/find", {"find": "Resident-Broken"})
    assert page.status_code == 200
    assert "could not be searched just now" in page.text
    assert "Broken street light" in page.text


def test_without_a_crm_the_look_up_says_only_caseload_was_searched(client) -> None:
    sign_in(client, "alice")
    page = _post(client, "/enquiries/new/find", {"find": "Resident-Broken"})
    assert page.status_code == 200 and "Broken street light" in page.text
    assert "No council CRM is connected to this portal" in page.text
    connected = build(parties=MemoryPartySource([CRM_PERSON]))
    other = TestClient(connected.app, follow_redirects=False)
    sign_in(other, "alice")
    answer = _post(other, "/enquiries/new/find", {"find": "Resident-Broken"})
    assert "No council CRM is connected" not in answer.text
