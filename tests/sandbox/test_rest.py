"""The Dataverse-style REST front: OAuth, paging, filters, upsert, annotations, errors."""

from __future__ import annotations

import base64
import email.utils
import uuid
from typing import Any

import pytest
import requests

from connector.sandbox.crm import SandboxHandle
from tests.sandbox.helpers import fl_client


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
    session.headers["Accept"] = "application/json"
    return session


def _all_pages(session: requests.Session, url: str, page: int) -> list[list[dict[str, Any]]]:
    pages = []
    while url:
        r = session.get(url, headers={"Prefer": f"odata.maxpagesize={page}"}, timeout=5)
        assert r.status_code == 200, r.text
        pages.append(r.json()["value"])
        url = r.json().get("@odata.nextLink")
    return pages


@pytest.mark.parametrize("fixture", ["sandbox_crm", "sandbox_crm_server"])
def test_paging_over_several_pages_returns_every_case_exactly_once(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    crm: SandboxHandle = request.getfixturevalue(fixture)
    session = _session(crm)
    pages = _all_pages(
        session,
        f"{crm.dataverse_url}incidents?$select=ticketnumber,modifiedon&$orderby=modifiedon asc",
        60,
    )
    assert len(pages) >= 3
    ids = [row["incidentid"] for page in pages for row in page]
    assert len(ids) == len(set(ids)) == crm.count_cases()
    modified = [row["modifiedon"] for page in pages for row in page]
    assert modified == sorted(modified)


def test_paging_is_exactly_once_even_when_cases_are_added_meanwhile(
    sandbox_crm: SandboxHandle,
) -> None:
    session = _session(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents?$select=title"
    first = session.get(url, headers={"Prefer": "odata.maxpagesize=50"}, timeout=5).json()
    contact = next(iter(sandbox_crm.store.parties.values()))["contactid"]
    added = session.post(
        f"{sandbox_crm.dataverse_url}incidents",
        json={"title": "new", "customerid_contact@odata.bind": f"/contacts({contact})"},
        timeout=5,
    )
    assert added.status_code == 204
    seen = [r["incidentid"] for r in first["value"]]
    for page in _all_pages(session, first["@odata.nextLink"], 50):
        seen += [r["incidentid"] for r in page]
    assert len(seen) == len(set(seen))


def test_filters_select_and_orderby(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    cases = list(sandbox_crm.store.cases.values())
    pivot = sorted(c["modified"] for c in cases)[len(cases) // 2]
    r = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={
            "$filter": f"modifiedon ge {pivot} and statecode eq 0",
            "$select": "title,statecode,cr_portalid",
            "$orderby": "modifiedon desc",
        },
        timeout=5,
    )
    rows = r.json()["value"]
    expected = [c for c in cases if c["modified"] >= pivot and c["status"] != "closed"]
    assert len(rows) == len(expected)
    assert set(rows[0]) == {"incidentid", "title", "statecode", "cr_portalid"}
    contact = next(iter(sandbox_crm.store.parties.values()))
    r = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$filter": f"_customerid_value eq {contact['contactid']}"},
        timeout=5,
    )
    assert len(r.json()["value"]) == sum(1 for c in cases if c["party"] == contact["ref"])
    bad = session.get(
        f"{sandbox_crm.dataverse_url}incidents", params={"$filter": "nosuchfield eq 1"}, timeout=5
    )
    assert bad.status_code == 400 and "nosuchfield" in bad.json()["error"]["message"]


def test_upsert_by_portal_id_alternate_key(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    pid = str(uuid.uuid4())
    contact = next(iter(sandbox_crm.store.parties.values()))
    url = f"{sandbox_crm.dataverse_url}incidents(cr_portalid='{pid}')"
    body = {
        "title": "Bins missed",
        "cr_memberid": "cllr-0002",
        "cr_sharing": "party",
        "caseorigincode": 3,
        "customerid_contact@odata.bind": f"/contacts({contact['contactid']})",
    }
    missing = session.patch(url, json=body, headers={"If-Match": "*"}, timeout=5)
    assert missing.status_code == 404
    created = session.patch(url, json=body, headers={"If-None-Match": "*"}, timeout=5)
    assert created.status_code == 204 and "incidents(" in created.headers["OData-EntityId"]
    again = session.patch(url, json=body, headers={"If-None-Match": "*"}, timeout=5)
    assert again.status_code == 412 and again.json()["error"]["code"]
    assert sandbox_crm.count_cases(PortalId=pid) == 1
    update = session.patch(url, json={"cr_sharing": "ward"}, headers={"If-Match": "*"}, timeout=5)
    assert update.status_code == 204
    incident = session.get(url, timeout=5).json()["incidentid"]
    closed = session.post(
        f"{sandbox_crm.dataverse_url}CloseIncident",
        json={
            "IncidentResolution": {
                "subject": "Bins collected",
                "incidentid@odata.bind": f"/incidents({incident})",
            },
            "Status": 5,
        },
        timeout=5,
    )
    assert closed.status_code == 204
    row = session.get(url, timeout=5).json()
    assert (row["cr_sharing"], row["statecode"], row["statuscode"], row["caseorigincode"]) == (
        "ward",
        1,
        5,
        3,
    )
    assert row["_customerid_value"] == contact["contactid"]
    assert sandbox_crm.count_cases(PortalId=pid) == 1


def test_both_fronts_share_one_store(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    client = fl_client(sandbox_crm, "wsse")
    contact = next(iter(sandbox_crm.store.parties.values()))["contactid"]
    ref = client.service.createCase(
        ClassificationEventCode=102,
        Title="From SOAP",
        Form={"FormField": [{"Key": "PortalId", "Value": "soap-1"}]},
    )
    rest_rows = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$filter": "cr_portalid eq 'soap-1'"},
        timeout=5,
    ).json()
    incident = sandbox_crm.store.case(ref)["incidentid"]
    assert [r["incidentid"] for r in rest_rows["value"]] == [incident]
    assert rest_rows["value"][0]["ticketnumber"].startswith("CAS-")
    created = session.post(
        f"{sandbox_crm.dataverse_url}incidents",
        json={
            "title": "From REST",
            "cr_portalid": "rest-1",
            "cr_categorycode": 106,
            "customerid_contact@odata.bind": f"/contacts({contact})",
        },
        headers={"Prefer": "return=representation"},
        timeout=5,
    )
    assert created.status_code == 201
    ticket = sandbox_crm.store.case_by_incident(created.json()["incidentid"])["ref"]
    detail = client.service.retrieveCaseDetails(CaseReference=ticket, Option=["all"])
    assert detail.CoreDetails.Title == "From REST"
    assert detail.CoreDetails.CategoryNameKey == "parks"
    assert {f.Key: f.Value for f in detail.Form.FormField}["PortalId"] == "rest-1"


def test_annotations_carry_base64_attachments(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    case = next(iter(sandbox_crm.store.cases.values()))
    body = base64.b64encode(b"photo bytes").decode()
    r = session.post(
        f"{sandbox_crm.dataverse_url}annotations",
        json={
            "subject": "Photo",
            "notetext": "see photo",
            "filename": "p.jpg",
            "mimetype": "image/jpeg",
            "documentbody": body,
            "objectid_incident@odata.bind": f"/incidents({case['incidentid']})",
        },
        timeout=5,
    )
    assert r.status_code == 204
    rows = session.get(
        f"{sandbox_crm.dataverse_url}annotations",
        params={"$filter": f"_objectid_value eq {case['incidentid']} and isdocument eq true"},
        timeout=5,
    ).json()["value"]
    assert [(a["filename"], base64.b64decode(a["documentbody"])) for a in rows] == [
        ("p.jpg", b"photo bytes")
    ]
    bad = session.post(
        f"{sandbox_crm.dataverse_url}annotations",
        json={
            "documentbody": "***",
            "objectid_incident@odata.bind": f"/incidents({case['incidentid']})",
        },
        timeout=5,
    )
    assert bad.status_code == 400


def test_contacts_create_and_read(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    r = session.post(
        f"{sandbox_crm.dataverse_url}contacts",
        json={"firstname": "Ada", "lastname": "Lovelace", "address1_postalcode": "FM2 3AB"},
        headers={"Prefer": "return=representation"},
        timeout=5,
    )
    assert r.status_code == 201
    cid = r.json()["contactid"]
    got = session.get(f"{sandbox_crm.dataverse_url}contacts({cid})", timeout=5).json()
    assert got["fullname"] == "Ada Lovelace"
    client = fl_client(sandbox_crm, "wsse")
    found = client.service.searchForParty(SearchType="individual", Name="Lovelace")
    assert found[0].ObjectID.ObjectReference == got["cr_partyreference"]


def test_requests_without_a_valid_bearer_get_odata_401(sandbox_crm: SandboxHandle) -> None:
    r = requests.get(f"{sandbox_crm.dataverse_url}incidents", timeout=5)
    assert r.status_code == 401 and "error" in r.json()
    bad = requests.post(
        sandbox_crm.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sandbox_crm.client_id,
            "client_secret": "wrong",
            "scope": "https://crm/.default",
        },
        timeout=5,
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert bad.json()["error_description"].startswith("AADSTS7000215: ")
    missing = _session(sandbox_crm).get(
        f"{sandbox_crm.dataverse_url}incidents({uuid.uuid4()})", timeout=5
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"]


@pytest.mark.sandbox_crm(faults="incidents.GET:rate=2/60s")
def test_throttling_returns_429_with_retry_after_seconds(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents?$top=1"
    assert [session.get(url, timeout=5).status_code for _ in range(2)] == [200, 200]
    r = session.get(url, timeout=5)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.json()["error"]["code"]


@pytest.mark.sandbox_crm(faults="incidents.GET:429=1,retry_after=7,retry_after_form=date")
def test_throttling_can_send_retry_after_as_an_http_date(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    r = session.get(f"{sandbox_crm.dataverse_url}incidents", timeout=5)
    assert r.status_code == 429
    assert email.utils.parsedate_to_datetime(r.headers["Retry-After"]) is not None


@pytest.mark.sandbox_crm(faults="incidents.GET:session_expiry=1")
def test_bearer_session_expires_after_n_calls(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents?$top=1"
    assert session.get(url, timeout=5).status_code == 200
    expired = session.get(url, timeout=5)
    assert expired.status_code == 401 and "expired" in expired.json()["error"]["message"]
    assert _session(sandbox_crm).get(url, timeout=5).status_code == 200


def test_in_process_fixture_lets_tests_route_other_hosts(sandbox_crm: SandboxHandle) -> None:
    sandbox_crm.mock.add("GET", "https://idp.example/health", json={"ok": True})
    assert requests.get("https://idp.example/health", timeout=5).json() == {"ok": True}


@pytest.mark.sandbox_crm(cases=300)
def test_descending_filtered_paging_is_exactly_once(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    url = (
        f"{sandbox_crm.dataverse_url}incidents?$filter=statecode eq 1"
        "&$orderby=prioritycode desc,modifiedon desc&$select=prioritycode,modifiedon"
    )
    pages = _all_pages(session, url, 40)
    assert len(pages) >= 3
    rows = [r for page in pages for r in page]
    ids = [r["incidentid"] for r in rows]
    assert len(ids) == len(set(ids)) == sandbox_crm.count_cases(status="closed")
    keys = [(r["prioritycode"], r["modifiedon"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
