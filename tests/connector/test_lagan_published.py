"""The Lagan connector against an FL server that offers only the published contract.

The sandbox's FL front is the strictest client of the contract: it serves the published WSDL,
refuses request elements the build lacks as Apache Axis does, and caps every search answer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
import responses

from connector.base import Attachment, CasePage
from connector.errors import CRMConflict, CRMContractError, CRMNotFound, CRMUnavailable
from connector.lagan.notes import note_marker
from connector.lagan.search import EPOCH, SearchCapExceeded
from tests.connector.lagan_helpers import (
    create_payload,
    deliver,
    lagan_client,
    member_case,
    update_payload,
)

FAR = datetime(2100, 1, 1, tzinfo=UTC)


def _refs(client: Any, since: datetime = EPOCH, page_size: int = 200) -> list[str]:
    return [
        str(case["CoreDetails"]["CaseReference"])
        for page in client.iter_changed_cases(since, FAR, page_size=page_size)
        for case in page
    ]


@pytest.mark.sandbox_crm(cases=260, seed=21)
def test_full_read_behind_a_cap_reads_every_case_once_and_learns_the_cap(sandbox_crm) -> None:
    sandbox_crm.set_lagan(search_cap=25)
    client = lagan_client(sandbox_crm)
    refs = _refs(client)
    assert sorted(refs) == sorted(c["ref"] for c in sandbox_crm.store.find("cases"))
    assert client.cap.proven == 25
    assert "25" in client.cap.describe()


@pytest.mark.sandbox_crm(cases=120, seed=22)
def test_a_server_that_ignores_unknown_elements_still_gives_every_case(sandbox_crm) -> None:
    sandbox_crm.set_lagan(unknown="ignore", search_cap=10)
    client = lagan_client(sandbox_crm)
    assert sorted(_refs(client)) == sorted(c["ref"] for c in sandbox_crm.store.find("cases"))
    assert client.modified_filter is False
    assert "ignored" in client.extension_note


@pytest.mark.parametrize(
    ("options", "supported", "words"),
    [
        ({}, False, "refused"),
        ({"unknown": "ignore"}, False, "ignored"),
        ({"build": "later"}, True, "applied"),
    ],
)
@pytest.mark.sandbox_crm(cases=5)
def test_the_later_build_filter_is_used_only_once_detected(
    sandbox_crm, options: dict[str, Any], supported: bool, words: str
) -> None:
    sandbox_crm.set_lagan(**options)
    client = lagan_client(sandbox_crm)
    assert client.detect_extensions() is supported
    assert words in client.extension_note
    check = client._search_check()  # what `caseload crm check` adds once the CRM answers
    assert check.name == "fl-search" and check.ok and words in check.detail


@pytest.mark.sandbox_crm(cases=0)
def test_an_empty_crm_proves_nothing_about_the_filter(sandbox_crm) -> None:
    sandbox_crm.set_lagan(build="later")
    client = lagan_client(sandbox_crm)
    assert client.detect_extensions() is None
    assert "no cases" in client.extension_note


@pytest.mark.sandbox_crm(cases=0)
def test_a_full_one_second_window_fails_loudly(sandbox_crm) -> None:
    sandbox_crm.set_lagan(search_cap=3)
    client = lagan_client(sandbox_crm)
    party = sandbox_crm.store.find("parties")[0]["ref"]
    opened = "2024-05-01T09:00:00Z"
    for n in range(5):
        sandbox_crm.store.add_case(
            {
                "status": "open",
                "title": f"Same second {n}",
                "category": 101,
                "party": party,
                "form": {},
                "opened": opened,
            },
            event=None,
        )
    with pytest.raises(SearchCapExceeded) as info:
        _refs(client)
    assert "one-second window from 2024-05-01T09:00:00" in str(info.value)


@pytest.mark.sandbox_crm(cases=60, seed=27)
def test_a_configured_cap_larger_than_the_servers_is_corrected_by_the_probe(sandbox_crm) -> None:
    sandbox_crm.set_lagan(search_cap=5)
    client = lagan_client(sandbox_crm, search_result_cap=50)
    assert sorted(_refs(client)) == sorted(c["ref"] for c in sandbox_crm.store.find("cases"))
    assert client.cap.limit == 5


@pytest.mark.sandbox_crm(cases=40, seed=23)
def test_incremental_read_gives_new_cases_then_every_open_case(sandbox_crm) -> None:
    sandbox_crm.set_lagan(search_cap=7)
    client = lagan_client(sandbox_crm)
    since = datetime.now(UTC) - timedelta(minutes=1)
    made = client.create_case(create_payload(member_case(sandbox_crm, "New since")), "k-new")
    pages = [cast(CasePage, p) for p in client.iter_changed_cases(since, FAR, page_size=50)]
    assert all(isinstance(p, CasePage) for p in pages)
    refs = [str(c["CoreDetails"]["CaseReference"]) for page in pages for c in page]
    open_refs = {c["ref"] for c in sandbox_crm.store.find("cases") if c["status"] != "closed"}
    assert refs[0] == made.reference
    assert set(refs) == open_refs | {made.reference}
    assert pages[-1].open_complete and not pages[-1]
    assert not any(page.open_complete for page in pages[:-1])
    sweep = [n for n, page in enumerate(pages) if page.open_sweep]
    assert sweep and not pages[sweep[0]]  # an empty page announces the re-read of open cases
    assert all(pages[n].open_sweep for n in range(sweep[0], len(pages)))


@pytest.mark.sandbox_crm(cases=30, seed=24)
def test_create_is_found_again_by_the_published_search_after_a_lost_answer(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    payload = create_payload(member_case(sandbox_crm, "Damp in the back bedroom"))
    sandbox_crm.set_faults("createCase:lose_response=1")
    key = str(uuid.uuid4())
    ref = client.create_case(payload, key)
    sandbox_crm.set_faults(None)
    again = client.create_case(payload, key)
    assert not ref.created and not again.created and ref.reference == again.reference
    assert sandbox_crm.count_cases(PortalId=key) == 1
    # A case with the same title, category and resident but another key is not taken for it.
    other = client.create_case(payload, str(uuid.uuid4()))
    assert other.created and other.reference != ref.reference


@pytest.mark.sandbox_crm(cases=10, seed=25)
def test_two_cases_with_one_key_are_reported_as_duplicates(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    payload = create_payload(member_case(sandbox_crm, "Broken streetlight"))
    key = str(uuid.uuid4())
    first = client.create_case(payload, key).reference
    case = sandbox_crm.store.case(first)
    copy = {k: v for k, v in case.items() if k not in ("ref", "incidentid", "notes", "events")}
    sandbox_crm.store.add_case({**copy, "form": dict(case["form"])}, event=None)
    with pytest.raises(CRMConflict, match="2 cases carry the same portal key"):
        client.create_case(payload, key)


@pytest.mark.sandbox_crm(cases=10, seed=26)
def test_close_and_reopen_are_applied_once_when_answers_are_lost(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    ref = client.create_case(create_payload(member_case(sandbox_crm, "Overgrown hedge")), "k1")
    sandbox_crm.set_faults("closeCases:lose_response=1;reopenCase:lose_response=1")
    client.close_case(ref.reference, "resolved")
    assert sandbox_crm.store.case(ref.reference)["status"] == "closed"
    client.reopen_case(ref.reference, "resident called back")
    assert sandbox_crm.store.case(ref.reference)["status"] != "closed"
    sandbox_crm.set_faults(None)
    events = [e["EventTitle"] for e in sandbox_crm.store.case(ref.reference)["events"]]
    assert sum("close" in title.lower() for title in events) == 1
    assert sum("reopen" in title.lower() for title in events) == 1


@pytest.mark.sandbox_crm(cases=3)
def test_a_case_deleted_in_the_crm_is_not_found(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    with pytest.raises(CRMNotFound) as info:
        client.get_case("101999999999")
    assert info.value.operation == "retrieveCaseDetails"


@pytest.mark.sandbox_crm(cases=3)
def test_an_axis_refusal_names_the_element(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    with pytest.raises(CRMContractError, match=r"LastModifiedDateFrom of .*FWTCaseSearch"):
        client._search({"LastModifiedDateFrom": FAR}, 1, options=None, extensions=True)


HTML = b"<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"
ENDPOINT = "http://127.0.0.1:8999/lagan/services/FL"


def _html_client(make_lagan: Any) -> Any:
    return make_lagan(search_result_cap=100)


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "words"),
    [
        (404, HTML, {"Content-Type": "text/html"}, CRMContractError, "an HTML page"),
        (200, HTML, {"Content-Type": "text/html; charset=utf-8"}, CRMContractError, "HTML"),
        (500, HTML, {"Content-Type": "text/html"}, CRMUnavailable, "an HTML page"),
        (200, b"", {"Content-Type": "text/xml"}, CRMContractError, "empty"),
        (200, b'{"error": "no"}', {"Content-Type": "application/json"}, CRMContractError, "JSON"),
        (200, b"<html><p>login</p></html>", {"Content-Type": "text/xml"}, CRMContractError, "SOAP"),
    ],
)
@pytest.mark.parametrize("operation", ["get_case", "code_book", "create_case", "close_case"])
def test_answers_that_are_not_soap_are_typed_errors_naming_the_operation(
    make_lagan,
    operation: str,
    status: int,
    body: bytes,
    headers: dict[str, str],
    error: type[Exception],
    words: str,
) -> None:
    from tests.connector.conftest import fast_resilience

    client = make_lagan(resilience=fast_resilience("lagan", attempts=1), search_result_cap=100)
    calls = {
        "get_case": lambda: client.get_case("101000000001"),
        "code_book": client.code_book,
        "create_case": lambda: client.create_case({"Title": "x"}, "k"),
        "close_case": lambda: client.close_case("101000000001", "done"),
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(ENDPOINT, status=status, body=body, headers=headers)
        with pytest.raises(error) as info:
            calls[operation]()
    assert words in str(info.value)
    assert info.value.operation  # type: ignore[attr-defined]


FAULT_MIX = (
    "createCase:lose_response=0.3;updateCase:lose_response=0.3;createNotes:lose_response=0.3;"
    "closeCases:lose_response=0.3;reopenCase:lose_response=0.3;"
    "*:503=0.05,429=0.05,retry_after=0,reset=0.05"
)


def _write_everything(client: Any, case: Any, n: int) -> tuple[str, str, str]:
    """The outbox's writes for one enquiry, each repeated until confirmed; returns the keys."""
    key, note_key = str(case.portal_id), str(uuid.uuid4())  # the outbox's keys
    ref = deliver(lambda: client.create_case(create_payload(case), key)).reference
    changed = case.model_copy(update={"crm_reference": ref, "title": f"Updated {n}"})
    deliver(lambda: client.update_case(ref, update_payload(changed)))
    photo = Attachment(name=f"photo-{n}.jpg", content=b"\xff\xd8" + bytes([n]))
    deliver(lambda: client.add_note(ref, "Photo", [photo], idempotency_key=note_key))
    deliver(lambda: client.close_case(ref, "resolved"))
    deliver(lambda: client.reopen_case(ref, "resident called back"))
    return key, ref, note_key


@pytest.mark.sandbox_crm(cases=10, seed=28)
def test_every_write_lands_exactly_once_under_the_fault_mix(sandbox_crm) -> None:
    """Creates for existing and new residents, updates, notes with files, close and reopen:
    each confirmed exactly once through lost answers, 503/429 and connection resets."""
    client = lagan_client(sandbox_crm)
    newcomer = client.create_party(
        {"Name": [{"Forename": "Nia", "Surname": "Newcomer", "Preferred": True}]}
    )
    plan = sandbox_crm.set_faults(FAULT_MIX, seed=13)
    written: list[tuple[str, str, str]] = []
    for n in range(24):
        case = member_case(sandbox_crm, f"Exactly once {n}", party=n)
        if n % 4 == 0:  # a resident new to the CRM
            resident = case.constituent.model_copy(
                update={"crm_party_id": newcomer.reference, "surname": "Nia Newcomer"}
            )
            case = case.model_copy(update={"constituent": resident})
        written.append(_write_everything(client, case, n))
    sandbox_crm.set_faults(None)
    injected = {event.fault for event in plan.events}
    assert {"lose_response", "reset"} <= injected and injected & {"503", "429"}
    for key, ref, note_key in written:
        assert sandbox_crm.count_cases(PortalId=key) == 1
        stored = sandbox_crm.store.case(ref)
        assert stored["title"].startswith("Updated") and stored["status"] == "reopened"
        notes = [sandbox_crm.store.notes[nid] for nid in stored["notes"]]
        assert sum(n["text"].endswith(note_marker(note_key)) for n in notes) == 1
        titles = [e["EventTitle"] for e in stored.get("events", [])]
        assert sum(t.startswith("Closed") for t in titles) == 1
        assert titles.count("Reopened") == 1


def test_the_cap_rules_prove_only_what_the_server_has_shown() -> None:
    from connector.lagan.search import ResultCap

    cap = ResultCap()
    cap.seen(40, 201)  # the largest answer yet: the cap is at least 40
    assert cap.may_be_cut(40, 201) and not cap.may_be_cut(39, 201)
    assert not cap.may_be_cut(0, 201)
    assert cap.may_be_cut(201, 201)  # as many as asked for: more may exist
    cap.proven = 40
    cap.seen(55, 201)  # the server gave more: 40 was not its cap
    assert cap.proven is None and cap.floor == 55
    configured = ResultCap(configured=20)
    assert configured.may_be_cut(20, 201) and not configured.may_be_cut(19, 201)
    configured.seen(30, 201)  # more than the administrator said: the setting was too low
    assert configured.configured is None and not configured.may_be_cut(29, 201)
