"""Search finds only cases the viewer may see, and only through fields they may see."""

from __future__ import annotations

from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import build


def _titles(client, words: str) -> set[str]:
    return {
        row["title"] for row in client.get("/api/v1/search", params={"q": words}).json()["cases"]
    }


def test_a_member_finds_their_own_and_shared_cases_only(client) -> None:
    sign_in(client, "bob")
    assert _titles(client, "street") == {"Broken street light"}  # alice's, shared with the ward
    assert _titles(client, "pothole") == set()  # carol's private case
    page = client.get("/search", params={"q": "stre light"})
    assert "Broken street light" in page.text and "1 case found" in page.text


def test_a_service_officer_cannot_find_cases_by_the_residents_name(client) -> None:
    sign_in(client, "officer_s1")
    assert _titles(client, "housing") == {"Housing adaptation"}
    assert _titles(client, "resident housing") == set()  # the name is hidden from them
    assert _titles(client, "first note") == set()  # so are the member's notes


def test_searches_are_audited_without_the_words(client, built) -> None:
    sign_in(client, "alice")
    client.get("/search", params={"q": "Okafor"})
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
