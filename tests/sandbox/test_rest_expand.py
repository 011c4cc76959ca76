"""Dataverse `$expand` (the customer, the case resolution) on the REST front, and closing."""

from __future__ import annotations

import urllib.parse
from typing import Any

import pytest
import requests

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.rest import CONTACT_COLUMNS, contact
from tests.sandbox.helpers import fl_client

PROFILE_EXPAND = "customerid_contact($select=firstname,lastname,emailaddress1,telephone1)"


def _session(crm: SandboxHandle) -> requests.Session:
    token = requests.post(
        crm.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "scope": "https://crm/.default",
        },
        timeout=5,
    )
    assert token.status_code == 200, token.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def _party_of(crm: SandboxHandle, incident: dict[str, Any]) -> dict[str, Any]:
    case = crm.store.case_by_incident(incident["incidentid"])
    party: dict[str, Any] = crm.store.party(case["party"])
    return party


def _closed_case(crm: SandboxHandle) -> dict[str, Any]:
    return next(c for c in crm.store.cases.values() if c["status"] == "closed")


def _open_case(crm: SandboxHandle) -> dict[str, Any]:
    return next(c for c in crm.store.cases.values() if c["status"] == "open")


def test_contact_columns_constant_matches_the_contact_view() -> None:
    view = contact(
        {"ref": "1000001", "contactid": "c", "created": "2025-01-01T00:00:00Z", "modified": "x"}
    )
    assert tuple(view) == CONTACT_COLUMNS


def test_expand_on_a_collection_page_returns_each_cases_contact(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    r = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$expand": "customerid_contact", "$top": "25"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    rows = r.json()["value"]
    assert len(rows) == 25
    for row in rows:
        party = _party_of(sandbox_crm, row)
        expanded = row["customerid_contact"]
        assert expanded == contact(party)
        assert expanded["contactid"] == row["_customerid_value"]
        assert expanded["firstname"] == party["forename"]
        assert expanded["lastname"] == party["surname"]
        assert expanded["emailaddress1"] == party["email"]
        assert expanded["telephone1"] == party["phone"]


def test_nested_select_limits_the_expanded_contact_to_the_named_columns(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    r = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$select": "title,ticketnumber", "$expand": PROFILE_EXPAND, "$top": "5"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    for row in r.json()["value"]:
        assert set(row) == {"incidentid", "title", "ticketnumber", "customerid_contact"}
        party = _party_of(sandbox_crm, row)
        assert row["customerid_contact"] == {
            "contactid": party["contactid"],
            "firstname": party["forename"],
            "lastname": party["surname"],
            "emailaddress1": party["email"],
            "telephone1": party["phone"],
        }


@pytest.mark.parametrize("fixture", ["sandbox_crm", "sandbox_crm_server"])
def test_expand_on_a_single_entity_by_id_and_by_alternate_key(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    crm: SandboxHandle = request.getfixturevalue(fixture)
    session = _session(crm)
    case = _open_case(crm)
    party = crm.store.party(case["party"])
    for key in (case["incidentid"], f"cr_portalid='{case['form']['PortalId']}'"):
        r = session.get(
            f"{crm.dataverse_url}incidents({key})",
            params={"$expand": "customerid_contact($select=lastname)"},
            timeout=5,
        )
        assert r.status_code == 200, r.text
        assert r.json()["customerid_contact"] == {
            "contactid": party["contactid"],
            "lastname": party["surname"],
        }


def test_an_incident_needs_a_customer_and_one_without_expands_to_null(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    refused = session.post(
        f"{sandbox_crm.dataverse_url}incidents",
        json={"title": "No customer yet", "cr_portalid": "no-customer-1"},
        timeout=5,
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "You should specify a parent contact or account."
    assert sandbox_crm.count_cases(PortalId="no-customer-1") == 0
    case = _open_case(sandbox_crm)
    case["party"] = None  # a case whose customer was deleted in the CRM
    row = session.get(
        f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})",
        params={"$expand": "customerid_contact,customerid_account"},
        timeout=5,
    ).json()
    assert row["_customerid_value"] is None
    assert row["customerid_contact"] is None and row["customerid_account"] is None


def test_paging_keeps_the_expand_on_the_next_link(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    url: str | None = (
        f"{sandbox_crm.dataverse_url}incidents?$orderby=modifiedon asc&$expand={PROFILE_EXPAND}"
    )
    seen: list[str] = []
    pages = 0
    while url:
        r = session.get(url, headers={"Prefer": "odata.maxpagesize=70"}, timeout=5)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        for row in body["value"]:
            assert set(row["customerid_contact"]) == {
                "contactid",
                "firstname",
                "lastname",
                "emailaddress1",
                "telephone1",
            }
            assert row["customerid_contact"]["contactid"] == row["_customerid_value"]
            seen.append(row["incidentid"])
        url = body.get("@odata.nextLink")
        if url:
            assert "customerid_contact" in urllib.parse.unquote(url)
    assert pages >= 3
    assert len(seen) == len(set(seen)) == sandbox_crm.count_cases()


@pytest.mark.parametrize(
    ("expand", "needle"),
    [
        ("primarycontactid", "primarycontactid"),
        ("customerid_lead", "customerid_lead"),
        ("title", "title"),
        ("customerid_contact($select=nosuchcolumn)", "nosuchcolumn"),
        ("customerid_contact($filter=lastname eq 'x')", "$filter"),
        ("customerid_contact($select=lastname", "("),
        ("customerid_contact,customerid_contact", "more than once"),
        ("", "empty"),
    ],
)
def test_bad_expand_is_a_clean_odata_400(
    sandbox_crm: SandboxHandle, expand: str, needle: str
) -> None:
    session = _session(sandbox_crm)
    case = _open_case(sandbox_crm)
    for url in (
        f"{sandbox_crm.dataverse_url}incidents",
        f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})",
    ):
        r = session.get(url, params={"$expand": expand}, timeout=5)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["code"] == "0x80060888"
        assert needle in error["message"]
        assert "Traceback" not in r.text


def test_expand_on_contacts_names_no_navigation_property(sandbox_crm: SandboxHandle) -> None:
    r = _session(sandbox_crm).get(
        f"{sandbox_crm.dataverse_url}contacts", params={"$expand": "customerid_contact"}, timeout=5
    )
    assert r.status_code == 400
    assert "Microsoft.Dynamics.CRM.contact" in r.json()["error"]["message"]


def test_a_bad_expand_on_a_write_refuses_the_write(sandbox_crm: SandboxHandle) -> None:
    before = sandbox_crm.count_cases()
    r = _session(sandbox_crm).post(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$expand": "nosuchnav"},
        json={"title": "never stored", "cr_portalid": "bad-expand-1"},
        headers={"Prefer": "return=representation"},
        timeout=5,
    )
    assert r.status_code == 400
    assert sandbox_crm.count_cases() == before


class _NoScanDict(dict[str, Any]):
    """The store's parties, refusing to be scanned: only keyed lookups are allowed."""

    def _refuse(self, *args: Any) -> Any:
        raise AssertionError("the parties were scanned while expanding a page")

    __iter__ = values = items = keys = _refuse


@pytest.mark.sandbox_crm(cases=1000)
def test_expanding_a_page_of_a_thousand_cases_looks_contacts_up_by_key(
    sandbox_crm: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sandbox_crm.store
    monkeypatch.setattr(store, "parties", _NoScanDict(store.parties))
    session = _session(sandbox_crm)
    r = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$expand": PROFILE_EXPAND},
        headers={"Prefer": "odata.maxpagesize=1000"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    rows = r.json()["value"]
    assert len(rows) == 1000
    assert all(row["customerid_contact"]["lastname"] for row in rows)


# ------------------------------------------------------ the case resolution
RESOLVED = "Incident_IncidentResolutions($select=subject,actualend;$filter=statecode eq 1)"


def _lagan_closed(crm: SandboxHandle, ref: str) -> str | None:
    """`CoreDetails/Closed` of the case through the SOAP front, as ISO text with `Z`."""
    detail = fl_client(crm, "wsse").service.retrieveCaseDetails(CaseReference=ref, Option=["all"])
    closed = detail.CoreDetails.Closed
    return None if closed is None else closed.strftime("%Y-%m-%dT%H:%M:%SZ")


def _resolutions(session: requests.Session, url: str) -> list[dict[str, Any]]:
    r = session.get(url, params={"$expand": RESOLVED}, timeout=5)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["Incident_IncidentResolutions"]
    return rows


def test_every_seeded_closed_case_has_one_resolution_ending_when_lagan_says_it_closed(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    rows = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$select": "statecode,statuscode,modifiedon", "$expand": RESOLVED},
        timeout=5,
    ).json()["value"]
    closed = [r for r in rows if r["statecode"] == 1]
    assert closed and len(closed) == sandbox_crm.count_cases(status="closed")
    for row in rows:
        resolutions = row["Incident_IncidentResolutions"]
        if row["statecode"] == 1:
            assert row["statuscode"] == 5
            (resolution,) = resolutions
            case = sandbox_crm.store.case_by_incident(row["incidentid"])
            assert resolution["actualend"] == case["closed"] <= row["modifiedon"]
            assert resolution["subject"] == case["form"]["ClosureReason"]
        else:
            assert resolutions == []
    for row in closed[:5]:
        ref = sandbox_crm.store.case_by_incident(row["incidentid"])["ref"]
        assert (
            _lagan_closed(sandbox_crm, ref) == row["Incident_IncidentResolutions"][0]["actualend"]
        )


def test_soap_close_resolves_the_incident_and_reopen_reactivates_it(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    client = fl_client(sandbox_crm, "wsse")
    case = _open_case(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})"
    assert _resolutions(session, url) == []
    client.service.closeCases(CaseReference=[case["ref"]], Reason={"Title": "resolved"})
    row = session.get(url, timeout=5).json()
    assert (row["statecode"], row["statuscode"]) == (1, 5)
    (resolution,) = _resolutions(session, url)
    assert resolution["actualend"] == _lagan_closed(sandbox_crm, case["ref"])
    assert resolution["subject"] == "resolved"
    client.service.reopenCase(CaseReference=case["ref"], Reason="came back")
    row = session.get(url, timeout=5).json()
    assert (row["statecode"], row["statuscode"]) == (0, 1)
    assert _resolutions(session, url) == []
    assert _lagan_closed(sandbox_crm, case["ref"]) is None


def test_rest_closes_with_close_incident_never_by_patch_and_reopens_by_patch(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    case = _open_case(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})"
    for body in ({"statecode": 1}, {"statecode": 1, "statuscode": 5}, {"statuscode": 1000}):
        refused = session.patch(url, json=body, timeout=5)
        assert refused.status_code == 400
        assert "use the CloseIncidentRequest message instead" in refused.json()["error"]["message"]
    assert session.get(url, timeout=5).json()["statecode"] == 0
    action = {
        "IncidentResolution": {
            "@odata.type": "Microsoft.Dynamics.CRM.incidentresolution",
            "subject": "Pothole filled",
            "description": "Filled on Tuesday.",
            "incidentid@odata.bind": f"/incidents({case['incidentid']})",
        },
        "Status": 5,
    }
    closed = session.post(f"{sandbox_crm.dataverse_url}CloseIncident", json=action, timeout=5)
    assert closed.status_code == 204, closed.text
    (resolution,) = _resolutions(session, url)
    assert resolution["subject"] == "Pothole filled"
    assert resolution["actualend"] == _lagan_closed(sandbox_crm, case["ref"])
    again = session.post(f"{sandbox_crm.dataverse_url}CloseIncident", json=action, timeout=5)
    assert again.status_code == 400 and "already been resolved" in again.json()["error"]["message"]
    reopened = session.patch(url, json={"statecode": 0, "statuscode": 1}, timeout=5)
    assert reopened.status_code == 204
    assert session.get(url, timeout=5).json()["statecode"] == 0
    assert _resolutions(session, url) == []


def test_close_incident_refuses_what_dataverse_refuses(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    case = _open_case(sandbox_crm)
    bind = f"/incidents({case['incidentid']})"
    bad_bodies = [
        {"IncidentResolution": {"subject": "x", "incidentid@odata.bind": bind}, "Status": 1},
        {"IncidentResolution": {"subject": "x", "incidentid@odata.bind": bind}, "Status": "5"},
        {"IncidentResolution": {"incidentid@odata.bind": bind}, "Status": 5},
        {
            "IncidentResolution": {"subject": "x", "incidentid@odata.bind": bind, "cr_x": 1},
            "Status": 5,
        },
        {"Status": 5},
    ]
    for body in bad_bodies:
        r = session.post(f"{sandbox_crm.dataverse_url}CloseIncident", json=body, timeout=5)
        assert r.status_code == 400, body
        assert set(r.json()["error"]) == {"code", "message"}
        assert r.json()["error"]["code"].startswith("0x")
    assert sandbox_crm.store.case(case["ref"])["status"] == "open"


def test_cr_closedat_and_cr_status_are_not_columns(sandbox_crm: SandboxHandle) -> None:
    case = _closed_case(sandbox_crm)
    for column, value in (("cr_closedat", "2020-01-01T00:00:00Z"), ("cr_status", "open")):
        r = _session(sandbox_crm).patch(
            f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})",
            json={column: value},
            timeout=5,
        )
        assert r.status_code == 400
        assert r.json()["error"]["message"] == (
            f"Invalid property '{column}' was found in entity 'Microsoft.Dynamics.CRM.incident'."
        )
