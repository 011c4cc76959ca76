"""Reading and changing cases through the pages and the API: notes are queued for the CRM,
a failed form keeps what was typed, and every view and refusal is audited."""

from __future__ import annotations

from datetime import timedelta

from mappings.model import MemberCase, Sharing, SharingLevel
from portal_extensions.store.audit import Outcome
from tests.portal.access_fixtures import NOW
from tests.portal.conftest import csrf_from, page_text, sign_in
from tests.portal.web_fixtures import CASES, make_case, stored

BROKEN_LIGHT = next(c for c in CASES if c.title == "Broken street light")
WITHDRAWN = next(c for c in CASES if c.title == "Withdrawn ward case")
HOUSING = next(c for c in CASES if c.title == "Housing adaptation")


def test_a_member_adds_a_note_and_sees_it_queued(client, built) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert "Add a note" in page.text
    response = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/notes",
        data={"text": "Rang the lighting team", "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303
    after = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert "Waiting for the CRM" in after.text
    shown = page_text(after.text)
    assert "Note by u-alice, 15 June 2026 at 12:00pm Waiting for the CRM" in shown
    assert "Rang the lighting team" in shown
    notes = [e for e in built.audit.events if e.action == "add_note"]
    assert [(e.actor, e.outcome, e.on_behalf_of) for e in notes] == [
        ("u-alice", Outcome.ALLOWED, None)
    ]


def test_an_empty_note_is_refused_beside_the_field_and_a_long_one_keeps_its_text(client) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    token = csrf_from(page.text)
    empty = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/notes", data={"text": "  ", "csrf_token": token}
    )
    assert empty.status_code == 422
    assert 'id="note-text-error"' in empty.text and "Enter the note" in empty.text
    assert 'href="#note-text"' in empty.text
    typed = "x" * 20_001
    long = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/notes", data={"text": typed, "csrf_token": token}
    )
    assert long.status_code == 422
    assert typed in long.text


def test_members_services_act_on_the_members_behalf(client, built) -> None:
    sign_in(client, "ms_alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    response = client.post(
        f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/notes",
        json={"text": "Chased on Cllr Alice's behalf"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 202 and response.json()["queued"] is True
    [event] = [e for e in built.audit.events if e.action == "add_note"]
    assert (event.actor, event.on_behalf_of) == ("u-ms", "alice")
    case = client.get(f"/api/v1/cases/{BROKEN_LIGHT.portal_id}").json()
    assert [w["kind"] for w in case["pending"]] == ["add_note"]


def test_a_ward_colleague_may_read_a_shared_case_but_not_change_it(client, built) -> None:
    sign_in(client, "bob")
    page = client.get(f"/cases/{BROKEN_LIGHT.portal_id}")
    assert page.status_code == 200 and "Add a note" not in page.text
    refused = client.post(
        f"/cases/{BROKEN_LIGHT.portal_id}/notes",
        data={"text": "Trying anyway", "csrf_token": csrf_from(page.text)},
    )
    assert refused.status_code == 403
    assert [(e.action, e.outcome) for e in built.audit.events][-1] == ("add_note", Outcome.REFUSED)


def test_after_withdrawal_even_the_owner_cannot_add_notes(client) -> None:
    sign_in(client, "alice")
    page = client.get(f"/cases/{WITHDRAWN.portal_id}")
    assert "withdrawn their authority" in page.text and "Add a note" not in page.text
    api = client.get(f"/api/v1/cases/{WITHDRAWN.portal_id}").json()
    assert api["actions"] == ["close", "manage_consent"]  # close, or record authority anew


def test_special_category_details_reach_no_service_officer(client) -> None:
    sign_in(client, "officer_s1")
    case = client.get(f"/api/v1/cases/{HOUSING.portal_id}").json()["case"]
    assert "constituent" not in case and "notes" not in case
    page = client.get(f"/cases/{HOUSING.portal_id}")
    assert "Resident-" not in page.text and "First note" not in page.text


def test_every_view_and_refusal_is_audited_without_content(client, built) -> None:
    sign_in(client, "carol")
    client.get(f"/cases/{BROKEN_LIGHT.portal_id}")  # ward-shared: allowed
    client.get(f"/cases/{CASES[0].portal_id}")  # alice's private case: refused
    views = [e for e in built.audit.events if e.action == "view_case"]
    assert [(e.subject_id, e.outcome) for e in views] == [
        (str(BROKEN_LIGHT.portal_id), Outcome.ALLOWED),
        (str(CASES[0].portal_id), Outcome.REFUSED),
    ]
    assert all(e.actor == "u-carol" for e in views)


DRAIN = next(c for c in CASES if c.title == "Blocked drain cleared")


def test_closing_needs_a_reason_and_is_queued_for_the_crm(client, built) -> None:
    sign_in(client, "alice")
    case_page = client.get(f"/cases/{WITHDRAWN.portal_id}")
    # closing is still allowed after withdrawal, on a page of its own
    assert f'href="/cases/{WITHDRAWN.portal_id}/close"' in case_page.text
    page = client.get(f"/cases/{WITHDRAWN.portal_id}/close")
    assert "Close the case" in page.text and WITHDRAWN.title in page.text
    token = csrf_from(page.text)
    empty = client.post(f"/cases/{WITHDRAWN.portal_id}/close", data={"csrf_token": token})
    assert empty.status_code == 422
    assert "Enter why the case is being closed" in empty.text
    assert 'id="close-reason-error"' in empty.text and 'href="#close-reason"' in empty.text
    too_long = client.post(
        f"/cases/{WITHDRAWN.portal_id}/close",
        data={"reason": "Done. " + "x" * 50_000, "csrf_token": token},
    )
    assert too_long.status_code == 422  # no dead end, however long: the reason is kept
    assert "must be 20,000 characters or fewer" in too_long.text
    assert "Done. xxxx" in too_long.text
    done = client.post(
        f"/cases/{WITHDRAWN.portal_id}/close",
        data={"reason": "Constituent withdrew", "csrf_token": token},
    )
    assert done.status_code == 303
    closing = client.get(f"/cases/{WITHDRAWN.portal_id}").text
    assert "Closing the case by u-alice" in page_text(closing)
    assert "Case closed." in page_text(closing)  # the success banner, once
    assert "Case closed." not in client.get(f"/cases/{WITHDRAWN.portal_id}").text
    closes = [e for e in built.audit.events if e.action == "close_case"]
    assert [(e.actor, e.outcome) for e in closes] == [("u-alice", Outcome.ALLOWED)]


def test_reopen_only_applies_to_closed_cases(client) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    open_one = client.post(
        f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/reopen", json={"reason": "x"}, headers=headers
    )
    assert open_one.status_code == 409
    page = client.get(f"/cases/{DRAIN.portal_id}")
    assert f'href="/cases/{DRAIN.portal_id}/reopen"' in page.text
    assert f'href="/cases/{DRAIN.portal_id}/close"' not in page.text
    reopened = client.post(
        f"/api/v1/cases/{DRAIN.portal_id}/reopen", json={"reason": "Flooded again"}, headers=headers
    )
    assert reopened.status_code == 202
    closed_again = client.post(
        f"/api/v1/cases/{DRAIN.portal_id}/close", json={"reason": "x"}, headers=headers
    )
    assert closed_again.status_code == 409  # still closed until the CRM confirms the reopening


def test_the_directory_says_whom_to_contact_and_how_fast(client) -> None:
    sign_in(client, "officer_s1")
    page = client.get("/directory").text
    assert "highways@northshire.example" in page and "10 working days" in page
    assert "1 working day<" in page
    contacts = client.get("/api/v1/directory").json()
    assert [(c["service"], c["service_id"]) for c in contacts] == [
        ("Highways", "S1"),
        ("Housing", "S2"),
    ]


def test_the_ward_view_shows_what_a_member_may_see_in_their_ward(client, built) -> None:
    sign_in(client, "bob")
    page = client.get("/ward").text
    assert "Your ward" in page
    assert "Broken street light" in page  # alice's, shared with the ward
    assert "Bins not collected" in page  # alice's, shared with her party (Red, like bob)
    assert "Pothole on High Street" not in page  # carol's private case
    assert "Noise from a pub" not in page  # shared, but in ward W2
    [event] = [e for e in built.audit.events if e.action == "view_ward"]
    assert (event.subject_type, event.subject_id) == ("ward", "W1")


def test_the_team_leader_picks_a_ward(client) -> None:
    sign_in(client, "team_leader")
    page = client.get("/ward", params={"ward": "W2"}).text
    assert "Noise from a pub" in page and "Overgrown hedge" in page
    assert "Broken street light" not in page
    assert 'href="/ward?ward=W2&amp;view=overdue"' in page


def test_the_api_offers_the_ward_and_the_enquiry_choices(client) -> None:
    sign_in(client, "ms_alice")
    options = client.get("/api/v1/enquiry-options").json()
    assert [m["value"] for m in options["members"]] == ["alice"]
    assert {c["value"] for c in options["channels"]} >= {"surgery", "email"}
    ward = client.get("/api/v1/ward", params={"ward": "W1"}).json()
    titles = {row["title"] for row in ward["cases"]}
    assert "Broken street light" in titles and "Pothole on High Street" not in titles
    assert client.get("/api/v1/ward", params={"ward": "nowhere"}).status_code == 404


def _covered_for_dave(title: str, until_days: int) -> MemberCase:
    """One of bob's cases naming dave as cover until `until_days` from today."""
    return make_case(
        "bob",
        title,
        sharing=Sharing(
            level=SharingLevel.NAMED,
            colleague_id="dave",
            until=(NOW + timedelta(days=until_days)).date(),
        ),
    )


def test_a_member_sees_a_colleagues_cover_case_only_under_covering(client, built) -> None:
    built.repository.put(stored(_covered_for_dave("Cover ends today", 0)))
    built.repository.put(stored(_covered_for_dave("Cover ended yesterday", -1)))
    sign_in(client, "dave")
    own = client.get("/caseload").text
    assert "Noise from a pub" in own  # dave's own case
    assert "Cover during holiday" not in own and "Cover ends today" not in own
    assert 'href="/caseload?whose=covering&amp;view=open">Covering for colleagues (2)' in own
    covering = client.get("/caseload?whose=covering")
    assert covering.status_code == 200
    listed = page_text(covering.text)
    assert "Cover during holiday" in listed and "Cover ends today" in listed
    assert "Noise from a pub" not in listed
    assert "Cover ended yesterday" not in listed  # past its end date: in no list of dave's
    assert 'aria-current="page">Covering for colleagues (2)' in covering.text
    assert 'href="/caseload?view=open">Your cases' in covering.text
    # The group tabs keep to the covering list.
    assert 'href="/caseload?whose=covering&amp;view=overdue"' in covering.text
    assert "Cover ended yesterday" not in client.get("/ward").text


def test_paging_keeps_to_the_covering_list(client, built) -> None:
    for number in range(3):
        built.repository.put(stored(_covered_for_dave(f"Covered case {number}", 5)))
    built.app.state.portal.page_size = 2
    sign_in(client, "dave")
    first = client.get("/caseload?whose=covering")
    assert 'href="/caseload?whose=covering&amp;view=open&amp;offset=2"' in first.text
    second = page_text(client.get("/caseload?whose=covering&view=open&offset=2").text)
    assert "Covering for colleagues (4)" in second
    assert "Noise from a pub" not in second


def test_a_member_covering_nobody_sees_only_their_own_cases_and_no_covering_link(
    client,
) -> None:
    sign_in(client, "bob")
    for address in ("/caseload", "/caseload?whose=nonsense", "/caseload?whose=all"):
        page = client.get(address)
        assert page.status_code == 200
        assert "Covering for colleagues" not in page.text
        assert "Broken street light" not in page.text  # alice's, shared with the ward
    assert "Broken street light" in client.get("/ward").text


def test_staff_keep_every_case_whatever_whose_says(client) -> None:
    sign_in(client, "team_leader")
    for address in ("/caseload", "/caseload?whose=own", "/caseload?whose=covering"):
        page = client.get(address).text
        assert "Cover during holiday" in page and "Pothole on High Street" in page
        assert "Covering for colleagues" not in page
    listed = client.get("/api/v1/caseload?whose=covering").json()
    assert listed["whose"] == "all" and listed["covering_open"] is None


def test_the_api_lists_own_covered_or_all_cases(client) -> None:
    sign_in(client, "dave")

    def titles(query: str) -> tuple[str, set[str], int | None]:
        body = client.get(f"/api/v1/caseload{query}").json()
        return body["whose"], {row["title"] for row in body["cases"]}, body["covering_open"]

    everything = titles("?whose=all")
    assert everything[0] == "all" and everything[2] == 1
    assert {"Noise from a pub", "Cover during holiday"} <= everything[1]
    whose, own, covering = titles("")  # as on the page: a member's own cases by default
    assert (whose, covering) == ("own", 1) and "Cover during holiday" not in own
    assert "Noise from a pub" in own
    assert titles("?whose=nonsense") == titles("?whose=own")
    assert titles("?whose=covering") == ("covering", {"Cover during holiday"}, 1)


def test_the_api_refuses_a_blank_note_or_reason_as_the_page_does(client, built) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    note = client.post(
        f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/notes", json={"text": "   "}, headers=headers
    )
    assert note.status_code == 422
    assert note.json() == {"error": "Check the note", "fields": {"note": "Enter the note"}}
    close = client.post(
        f"/api/v1/cases/{BROKEN_LIGHT.portal_id}/close", json={"reason": " "}, headers=headers
    )
    assert close.status_code == 422
    assert close.json()["fields"] == {"close": "Enter why the case is being closed"}
    assert [e for e in built.audit.events if e.action in ("add_note", "close_case")] == []


def test_a_case_page_form_with_an_answer_too_long_shows_the_case_again_with_it_kept(
    client,
) -> None:
    sign_in(client, "alice")
    url = f"/cases/{BROKEN_LIGHT.portal_id}"
    token = csrf_from(client.get(url).text)
    note = "Rang Highways. " + "n" * 45_000
    long_note = client.post(f"{url}/notes", data={"text": note, "csrf_token": token})
    assert long_note.status_code == 422
    assert "must be 20,000 characters or fewer" in long_note.text
    assert 'href="#note-text"' in long_note.text and note in long_note.text
    file_note = "About the letter. " + "f" * 45_000
    long_file_note = client.post(
        f"{url}/attachments",
        data={"text": file_note, "csrf_token": token},
        files={"file": ("letter.txt", b"A letter", "text/plain")},
    )
    assert long_file_note.status_code == 422
    assert "must be 20,000 characters or fewer" in long_file_note.text
    assert file_note in long_file_note.text
    service = client.post(f"{url}/service", data={"service_id": "S" * 300, "csrf_token": token})
    assert service.status_code == 422 and 'href="#service_id"' in service.text
    for answer in (long_note, long_file_note, service):  # never the dead-end page
        assert "Go back and try again" not in answer.text
        assert "There is a problem with the form" not in answer.text
