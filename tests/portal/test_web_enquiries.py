"""Recording a new enquiry: few required fields, errors beside each field with everything typed
kept, queued for the CRM and shown as such, recorded on a member's behalf by staff."""

from __future__ import annotations

import warnings
from typing import Any

import httpx

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tests.portal.conftest import csrf_from, sign_in


def _post(client: TestClient, **fields: Any) -> httpx.Response:
    page = client.get("/enquiries/new")
    consent = fields.pop("consent", [])
    response: httpx.Response = client.post(
        "/enquiries/new", data={**fields, "consent": consent, "csrf_token": csrf_from(page.text)}
    )
    return response


def test_a_member_records_an_enquiry_and_sees_it_queued(client, built) -> None:
    sign_in(client, "alice")
    form = client.get("/enquiries/new").text
    assert 'name="member_id"' not in form  # a member records enquiries for themselves
    response = _post(
        client,
        surname="Okafor",
        category="street_lighting",
        title="Light out on Mill Lane",
        channel="street",
        sharing="ward",
        postcode="ab1 2cd",
    )
    assert response.status_code == 303
    case_page = client.get(response.headers["location"])
    assert "Light out on Mill Lane" in case_page.text
    assert "Waiting for the council&#39;s CRM to confirm this case" in case_page.text or (
        "Waiting for the council's CRM to confirm this case" in case_page.text
    )
    caseload = client.get("/caseload").text
    assert "Light out on Mill Lane" in caseload and "Waiting for the CRM" in caseload
    [event] = [e for e in built.audit.events if e.action == "create_case"]
    assert (event.actor, event.on_behalf_of) == ("u-alice", None)
    # Shared with the ward: a ward colleague sees it on the ward page (not in their own
    # caseload, which is theirs alone); a member of another ward does not see it at all.
    other = type(client)(built.app, follow_redirects=False)
    sign_in(other, "bob")
    assert "Light out on Mill Lane" in other.get("/ward").text
    assert "Light out on Mill Lane" not in other.get("/caseload").text
    elsewhere = type(client)(built.app, follow_redirects=False)
    sign_in(elsewhere, "dave")
    assert "Light out on Mill Lane" not in elsewhere.get("/ward").text
    assert "Light out on Mill Lane" not in elsewhere.get("/caseload").text


def test_a_failed_enquiry_keeps_everything_typed_and_marks_each_field(client) -> None:
    sign_in(client, "alice")
    response = _post(
        client,
        forename="Ada",
        email="not-an-email",
        title="Noise at night",
        description="Since March",
        channel="phone",
        sharing="named",
        consent=["special_category"],
    )
    assert response.status_code == 422
    text = response.text
    for typed in ('value="Ada"', 'value="not-an-email"', 'value="Noise at night"', "Since March"):
        assert typed in text
    assert 'value="phone" checked' in text and 'value="named" checked' in text
    for field, message in {
        "surname": "Enter the resident&#39;s surname",
        "category": "Select the category",
        "colleague_id": "Select the colleague to share this enquiry with",
        "explicit_consent": "explicit consent",
    }.items():
        assert f'href="#{"consent" if field == "explicit_consent" else field}"' in text
        assert message in text
    fixed = _post(
        client,
        surname="Lovelace",
        email="not-an-email",
        category="roads",
        title="Noise at night",
        channel="phone",
        sharing="private",
    )
    assert fixed.status_code == 422
    assert "Enter an email address in the correct format" in fixed.text
    assert 'id="email-error"' in fixed.text


def test_staff_record_enquiries_for_the_members_they_support_only(client, built) -> None:
    sign_in(client, "ms_alice")
    form = client.get("/enquiries/new").text
    member_select = form.split('name="member_id"')[1].split("</select>")[0]
    assert '<option value="alice"' in member_select and 'value="bob"' not in member_select
    refused = _post(
        client, member_id="bob", surname="X", category="roads", title="T", channel="email"
    )
    assert refused.status_code == 422
    assert "Select a councillor you record enquiries for" in refused.text
    token = client.get("/api/v1/session").json()["csrf_token"]
    created = client.post(
        "/api/v1/enquiries",
        json={
            "member_id": "alice",
            "surname": "Y",
            "category": "roads",
            "title": "Bins",
            "channel": "letter",
        },
        headers={"X-CSRF-Token": token},
    )
    assert created.status_code == 201
    [event] = [e for e in built.audit.events if e.action == "create_case"]
    assert (event.actor, event.on_behalf_of) == ("u-ms", "alice")
    case = client.get(f"/api/v1/cases/{created.json()['portal_id']}").json()
    assert case["queued"] is True and case["case"]["raised_by"] == "staff"


def test_the_api_reports_problems_by_field(client) -> None:
    sign_in(client, "alice")
    token = client.get("/api/v1/session").json()["csrf_token"]
    response = client.post(
        "/api/v1/enquiries", json={"surname": "Z"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"category", "title", "channel"}


def test_who_may_see_it_is_asked_for_each_enquiry_on_the_page(client) -> None:
    sign_in(client, "alice")
    blank = client.get("/enquiries/new").text
    assert (
        'name="sharing"' in blank
        and 'name="sharing" type="radio" value="private" checked' not in blank
    )
    unanswered = _post(client, surname="Okafor", category="roads", title="Bins", channel="email")
    assert unanswered.status_code == 422
    assert "Select who else may see this enquiry" in unanswered.text
    assert 'href="#sharing"' in unanswered.text


LIMITS = {
    "forename": 100,
    "surname": 200,
    "email": 320,
    "phone": 40,
    "postcode": 10,
    "title": 400,
    "description": 40_000,
}


def test_an_answer_over_its_limit_shows_the_form_again_with_everything_typed(client) -> None:
    sign_in(client, "alice")
    good = {
        "surname": "Okafor",
        "category": "roads",
        "title": "Light out on Mill Lane",
        "channel": "email",
        "sharing": "ward",
        "postcode": "AB1 2CD",
    }
    labels = {
        "forename": "First name",
        "surname": "Surname",
        "email": "Email address",
        "phone": "Phone number",
        "postcode": "Postcode",
        "title": "What the enquiry is about",
        "description": "Details",
    }
    for field, limit in LIMITS.items():
        long = "Q" * (limit + 1)
        response = _post(client, **{**good, field: long})
        assert response.status_code == 422, field
        assert "There is a problem with the form" not in response.text, field
        message = f"{labels[field]} must be {limit} characters or fewer"
        assert message in response.text, field
        assert f'href="#{field}"' in response.text and f'id="{field}-error"' in response.text
        assert long in response.text, field  # what was typed is kept, however long
        for name, value in good.items():
            if name != field and name not in ("category", "channel", "sharing"):
                assert f'value="{value}"' in response.text, (field, name)
        assert 'value="ward" checked' in response.text and 'value="email" checked' in response.text
    # Several at once, with a problem found only once the rest is read (no category).
    both = _post(client, **{**good, "postcode": "P" * 11, "phone": "9" * 41, "category": ""})
    assert both.status_code == 422
    for message in (
        "Postcode must be 10 characters or fewer",
        "Phone number must be 40 characters or fewer",
        "Select the category",
    ):
        assert message in both.text
    # A year typed as twenty digits is not a date, and no dead end either.
    huge_year = _post(
        client,
        **{**good, "sharing": "named", "colleague_id": "bob"},
        **{"cover_until-day": "1", "cover_until-month": "1", "cover_until-year": "9" * 20},
    )
    assert huge_year.status_code == 422 and "must be a real date" in huge_year.text
