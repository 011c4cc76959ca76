"""Search finds only cases the viewer may see, and only through fields they may see."""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.conftest import csrf_from, sign_in
from tests.portal.web_fixtures import build


def _token(client) -> str:
    token: str = client.get("/api/v1/session").json()["csrf_token"]
    return token


def _titles(client, words: str) -> set[str]:
    found = client.post(
        "/api/v1/search", json={"text": words}, headers={"X-CSRF-Token": _token(client)}
    )
    return {row["title"] for row in found.json()["cases"]}


def _search_page(client, words: str):
    form = client.get("/search")
    return client.post("/search", data={"q": words, "csrf_token": csrf_from(form.text)})


def test_a_member_finds_their_own_and_shared_cases_only(client) -> None:
    sign_in(client, "bob")
    assert _titles(client, "street") == {"Broken street light"}  # alice's, shared with the ward
    assert _titles(client, "pothole") == set()  # carol's private case
    page = _search_page(client, "stre light")
    assert "Broken street light" in page.text and "1 case found" in page.text
    assert "Cllr Alice" in page.text  # the member's name, not their id


def test_a_service_officer_cannot_find_cases_by_the_residents_name(client) -> None:
    sign_in(client, "officer_s1")
    assert _titles(client, "housing") == {"Housing adaptation"}
    assert _titles(client, "resident housing") == set()  # the name is hidden from them
    assert _titles(client, "first note") == set()  # so are the member's notes


def test_searches_are_audited_without_the_words(client, built) -> None:
    sign_in(client, "alice")
    _search_page(client, "Okafor")
    [event] = [e for e in built.audit.events if e.action == "search"]
    assert "Okafor" not in repr(event)


def test_special_details_are_not_searchable_once_consent_is_withdrawn() -> None:
    from tests.portal.web_fixtures import make_case, stored

    case = make_case("alice", "Stairlift", special=True)
    assert case.authority is not None
    withdrawn = case.model_copy(
        update={"authority": case.authority.model_copy(update={"withdrawn_at": NOW})}
    )
    repository = build().repository
    repository.put(stored(withdrawn))
    alice = VIEWERS["alice"]
    assert [r.title for r in repository.search_visible(alice, NOW, "stairlift", limit=5)] == [
        "Stairlift"
    ]
    # "Details of Stairlift" is the description: hidden now, so not searchable either.
    assert repository.search_visible(alice, NOW, "details stairlift", limit=5) == []


def test_the_search_words_never_go_in_the_address(client) -> None:
    sign_in(client, "bob")
    form = client.get("/search")
    assert 'method="post" action="/search"' in form.text
    # Words put in the address by hand are not searched (and so not encouraged).
    assert "Broken street light" not in client.get("/search", params={"q": "street"}).text
    assert client.get("/api/v1/search", params={"q": "street"}).status_code == 405
    page = _search_page(client, "street")
    assert page.status_code == 200 and "Broken street light" in page.text
    assert 'value="street"' in page.text  # the words stay in the box for another try


def test_a_search_form_without_its_token_is_refused(client) -> None:
    sign_in(client, "bob")
    assert client.post("/search", data={"q": "street"}).status_code == 403
    assert client.post("/api/v1/search", json={"text": "street"}).status_code == 403


def test_api_search_rows_name_the_member_beside_the_id(client) -> None:
    sign_in(client, "bob")
    found = client.post(
        "/api/v1/search", json={"text": "street"}, headers={"X-CSRF-Token": _token(client)}
    ).json()["cases"]
    assert [(r["member_id"], r["member_name"]) for r in found] == [("alice", "Cllr Alice")]


def test_list_and_search_rows_name_the_resident_only_to_who_may_see_who_it_is(built) -> None:
    def rows(who: str) -> list[dict[str, object]]:
        client = TestClient(built.app, follow_redirects=False)
        sign_in(client, who)
        listed = client.get("/api/v1/caseload").json()["cases"]
        found = client.post(
            "/api/v1/search", json={"text": "housing"}, headers={"X-CSRF-Token": _token(client)}
        ).json()["cases"]
        return [*listed, *found]

    member = {row["title"]: row["resident"] for row in rows("alice")}
    assert member["Housing adaptation"] == "Sam Resident-Housing ad"
    officer = rows("officer_s1")
    assert {row["title"] for row in officer} >= {"Housing adaptation", "Broken street light"}
    assert all(row["resident"] is None for row in officer)  # who it is is not theirs to see
    page = TestClient(built.app, follow_redirects=False)
    sign_in(page, "officer_s1")
    assert "Resident-" not in page.get("/caseload").text
