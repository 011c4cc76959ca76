"""The sandbox's Dataverse front refuses what Dataverse refuses, in Dataverse's error shape, and
serves metadata consistent with its records."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.rest import CLOSE_MESSAGE

SCOPE = "https://crm.sandbox.test/.default"


def _session(crm: SandboxHandle) -> requests.Session:
    token = requests.post(
        crm.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "scope": SCOPE,
        },
        timeout=5,
    )
    assert token.status_code == 200, token.text
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return session


def _open_incident(crm: SandboxHandle) -> dict[str, Any]:
    case: dict[str, Any] = next(c for c in crm.store.cases.values() if c["status"] == "open")
    return case


def _error(response: requests.Response) -> dict[str, str]:
    """The OData error, checked to have Dataverse's shape: {"error": {"code", "message"}}."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"].startswith("0x")
    error: dict[str, str] = body["error"]
    return error


def _organisation(crm: SandboxHandle) -> dict[str, Any]:
    return crm.store.add_party(
        {"type": "C2", "name": "Fenmarsh Allotment Society", "email": "hello@allotments.example"}
    )


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"statecode": 1}, 400, CLOSE_MESSAGE),
        ({"statecode": 1, "statuscode": 5}, 400, CLOSE_MESSAGE),
        ({"statuscode": 1000}, 400, CLOSE_MESSAGE),
        ({"cr_categorycode": "roads"}, 400, "Cannot convert the literal 'roads'"),
        ({"cr_categorycode": 999}, 400, "The value 999 of 'cr_categorycode'"),
        ({"caseorigincode": "Web"}, 400, "Cannot convert the literal 'Web'"),
        ({"caseorigincode": 42}, 400, "outside the valid range"),
        ({"statuscode": True}, 400, "Edm.Int32"),
        ({"cr_nosuchcolumn": "x"}, 400, "Invalid property 'cr_nosuchcolumn'"),
        ({"cr_status": "closed"}, 400, "Invalid property 'cr_status'"),
        ({"overriddencreatedon": "2020-01-01T00:00:00Z"}, 400, "only be set when"),
        ({"ticketnumber": "CAS-1"}, 400, "read-only"),
        ({"modifiedon": "2020-01-01T00:00:00Z"}, 400, "read-only"),
    ],
)
def test_an_update_dataverse_would_refuse_is_refused_and_changes_nothing(
    sandbox_crm: SandboxHandle, body: dict[str, Any], status: int, words: str
) -> None:
    case = _open_incident(sandbox_crm)
    before = {**case, "form": dict(case["form"])}
    r = _session(sandbox_crm).patch(
        f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})",
        json=body,
        headers={"If-Match": "*"},
        timeout=5,
    )
    assert r.status_code == status
    assert words in _error(r)["message"]
    assert case == before


def test_writes_by_ticket_number_are_refused_it_is_not_a_key(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    ticket = session.get(
        f"{sandbox_crm.dataverse_url}incidents({_open_incident(sandbox_crm)['incidentid']})",
        params={"$select": "ticketnumber"},
        timeout=5,
    ).json()["ticketnumber"]
    assert ticket.startswith("CAS-")
    for method in ("GET", "PATCH"):
        r = session.request(
            method,
            f"{sandbox_crm.dataverse_url}incidents(ticketnumber='{ticket}')",
            json={"title": "x"} if method == "PATCH" else None,
            timeout=5,
        )
        assert r.status_code == 400
        assert "'ticketnumber' is not a valid key" in _error(r)["message"]
    note = session.post(
        f"{sandbox_crm.dataverse_url}annotations",
        json={"notetext": "x", "objectid_incident@odata.bind": f"/incidents({ticket})"},
        timeout=5,
    )
    assert note.status_code == 400 and _error(note)


def test_a_customer_must_be_bound_through_its_own_table(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    case = _open_incident(sandbox_crm)
    url = f"{sandbox_crm.dataverse_url}incidents({case['incidentid']})"
    organisation = _organisation(sandbox_crm)
    person = sandbox_crm.store.party(case["party"])
    wrong = [
        ({"customerid_contact@odata.bind": f"/contacts({organisation['contactid']})"}, 404),
        ({"customerid_account@odata.bind": f"/accounts({person['contactid']})"}, 404),
        ({"customerid_contact@odata.bind": f"/accounts({organisation['contactid']})"}, 400),
        ({"customerid_contact@odata.bind": f"/contacts({uuid.uuid4()})"}, 404),
    ]
    for body, status in wrong:
        r = session.patch(url, json=body, timeout=5)
        assert r.status_code == status, body
        _error(r)
    assert case["party"] == person["ref"]
    right = session.patch(
        url,
        json={"customerid_account@odata.bind": f"/accounts({organisation['contactid']})"},
        timeout=5,
    )
    assert right.status_code == 204
    row = session.get(
        url,
        params={"$expand": "customerid_contact($select=lastname),customerid_account($select=name)"},
        headers={"Prefer": 'odata.include-annotations="*"'},
        timeout=5,
    ).json()
    assert row["_customerid_value"] == organisation["contactid"]
    assert row["_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert row["customerid_contact"] is None
    assert row["customerid_account"]["name"] == "Fenmarsh Allotment Society"
    plain = session.get(url, timeout=5).json()
    assert "_customerid_value@Microsoft.Dynamics.CRM.lookuplogicalname" not in plain
    accounts = session.get(f"{sandbox_crm.dataverse_url}accounts", timeout=5).json()["value"]
    assert [a["accountid"] for a in accounts] == [organisation["contactid"]]
    contacts = session.get(f"{sandbox_crm.dataverse_url}contacts", timeout=5).json()["value"]
    assert organisation["contactid"] not in {c["contactid"] for c in contacts}


def test_unknown_annotation_columns_are_refused(sandbox_crm: SandboxHandle) -> None:
    case = _open_incident(sandbox_crm)
    r = _session(sandbox_crm).post(
        f"{sandbox_crm.dataverse_url}annotations",
        json={
            "notetext": "x",
            "cr_caseload_key": "k",
            "objectid_incident@odata.bind": f"/incidents({case['incidentid']})",
        },
        timeout=5,
    )
    assert r.status_code == 400
    assert "Invalid property 'cr_caseload_key'" in _error(r)["message"]


def _options(session: requests.Session, crm: SandboxHandle, attribute: str, kind: str) -> Any:
    r = session.get(
        f"{crm.dataverse_url}EntityDefinitions(LogicalName='incident')"
        f"/Attributes(LogicalName='{attribute}')/Microsoft.Dynamics.CRM.{kind}AttributeMetadata",
        params={"$expand": "OptionSet"},
        timeout=5,
    )
    assert r.status_code == 200, r.text
    assert r.json()["AttributeType"] == kind
    return r.json()["OptionSet"]["Options"]


def test_the_choice_metadata_holds_every_value_the_records_hold(sandbox_crm: SandboxHandle) -> None:
    session = _session(sandbox_crm)
    rows = session.get(
        f"{sandbox_crm.dataverse_url}incidents",
        params={"$select": "cr_categorycode,caseorigincode,statecode,statuscode"},
        timeout=5,
    ).json()["value"]
    categories = {
        o["Value"]: o for o in _options(session, sandbox_crm, "cr_categorycode", "Picklist")
    }
    origins = {o["Value"] for o in _options(session, sandbox_crm, "caseorigincode", "Picklist")}
    states = {
        o["Value"]: o["State"] for o in _options(session, sandbox_crm, "statuscode", "Status")
    }
    assert {2483, 3986, 700610000} <= origins  # Facebook, Twitter, IoT: documented options
    for row in rows:
        assert isinstance(row["cr_categorycode"], int) and row["cr_categorycode"] in categories
        assert row["caseorigincode"] in origins
        assert states[row["statuscode"]] == row["statecode"]
    roads = categories[101]
    assert roads["Label"]["UserLocalizedLabel"]["Label"] == "Roads and pavements"
    wrong_kind = session.get(
        f"{sandbox_crm.dataverse_url}EntityDefinitions(LogicalName='incident')"
        "/Attributes(LogicalName='statuscode')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        timeout=5,
    )
    assert wrong_kind.status_code == 404 and _error(wrong_kind)


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"scope": ""}, 400, "AADSTS1002012"),
        ({"scope": "https://crm.sandbox.test/user_impersonation"}, 400, "AADSTS1002012"),
        ({"client_secret": "wrong"}, 401, "AADSTS7000215"),
        ({"client_id": "someone-else"}, 400, "AADSTS700016"),
        ({"grant_type": "password"}, 400, "AADSTS70003"),
    ],
)
def test_the_identity_endpoint_refuses_like_the_microsoft_identity_platform(
    sandbox_crm: SandboxHandle, form: dict[str, str], status: int, code: str
) -> None:
    data = {
        "grant_type": "client_credentials",
        "client_id": sandbox_crm.client_id,
        "client_secret": sandbox_crm.client_secret,
        "scope": SCOPE,
        **form,
    }
    r = requests.post(sandbox_crm.token_url, data=data, timeout=5)
    assert r.status_code == status
    body = r.json()
    assert body["error_description"].startswith(f"{code}: ")
    assert body["error_codes"] == [int(code[6:])]
    assert "access_token" not in body


def test_the_tenant_publishes_its_openid_configuration(sandbox_crm: SandboxHandle) -> None:
    tenant_url = sandbox_crm.token_url.removesuffix("/oauth2/v2.0/token")
    r = requests.get(f"{tenant_url}/v2.0/.well-known/openid-configuration", timeout=5)
    assert r.status_code == 200
    assert r.json()["token_endpoint"] == sandbox_crm.token_url
    other = requests.get(
        tenant_url.rsplit("/", 1)[0] + "/other-tenant/v2.0/.well-known/openid-configuration",
        timeout=5,
    )
    assert other.status_code == 400 and "AADSTS90002" in other.json()["error_description"]
