"""Dataverse client against `responses`: token, paging, create-or-match, OData errors."""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from connector.errors import CRMAuthError, CRMNotFound, CRMRejected
from tests.connector.conftest import DV_BASE, DV_TOKEN, dv_discovery

ID = "11111111-2222-3333-4444-555555555555"


def _token(rsps, count: list[int] | None = None) -> None:
    dv_discovery(rsps)

    def issue(request):
        if count is not None:
            count.append(1)
        return 200, {}, json.dumps({"access_token": f"t{len(count or [])}", "expires_in": 3600})

    rsps.add_callback("POST", DV_TOKEN, callback=issue)


def test_pages_follow_next_link_with_max_page_size(make_dataverse) -> None:
    from datetime import UTC, datetime

    client = make_dataverse()
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.get(
            f"{DV_BASE}incidents",
            json={
                "value": [{"incidentid": "a", "@odata.etag": "x"}],
                "@odata.nextLink": f"{DV_BASE}incidents?page=2",
            },
            match=[matchers.header_matcher({"Prefer": "odata.maxpagesize=1"})],
        )
        rsps.get(f"{DV_BASE}incidents?page=2", json={"value": [{"incidentid": "b"}]})
        pages = list(client.iter_changed_cases(datetime(2025, 1, 1, tzinfo=UTC), page_size=1))
        assert "modifiedon+ge+2025-01-01T00%3A00%3A00Z" in str(rsps.calls[2].request.url).replace(
            "%20", "+"
        )
    assert pages == [[{"incidentid": "a"}], [{"incidentid": "b"}]]


def test_next_link_off_the_allowlist_is_refused(make_dataverse) -> None:
    from datetime import UTC, datetime

    from connector.errors import ResidencyViolation

    client = make_dataverse()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _token(rsps)
        rsps.get(
            f"{DV_BASE}incidents",
            json={"value": [{"incidentid": "a"}], "@odata.nextLink": "https://attacker.example/x"},
        )
        with pytest.raises(ResidencyViolation):
            list(client.iter_changed_cases(datetime(2025, 1, 1, tzinfo=UTC)))


def test_create_is_create_only_on_the_alternate_key_and_matches_on_412(make_dataverse) -> None:
    client = make_dataverse()
    url = f"{DV_BASE}incidents(cr_portalid='k-1')"
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.patch(
            url,
            status=412,
            json={"error": {"code": "0x80040237", "message": "exists"}},
            match=[matchers.header_matcher({"If-None-Match": "*"})],
        )
        rsps.get(f"{url}?$select=incidentid", json={"incidentid": ID})
        ref = client.create_case({"title": "x"}, "k-1")
        assert json.loads(rsps.calls[2].request.body or "{}")["cr_portalid"] == "k-1"
    assert ref.reference == ID and not ref.created


def test_expired_token_is_renewed_once(make_dataverse) -> None:
    client = make_dataverse()
    fetched: list[int] = []
    with responses.RequestsMock() as rsps:
        _token(rsps, fetched)
        rsps.get(
            f"{DV_BASE}incidents({ID})",
            status=401,
            json={"error": {"code": "0x80040220", "message": "expired"}},
        )
        rsps.get(f"{DV_BASE}incidents({ID})", json={"incidentid": ID, "@odata.context": "c"})
        assert client.get_case(ID) == {"incidentid": ID}
    assert len(fetched) == 2


def test_odata_errors_become_typed_errors_without_the_body(make_dataverse) -> None:
    client = make_dataverse()
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.get(
            f"{DV_BASE}incidents({ID})",
            status=404,
            json={"error": {"code": "0x80040217", "message": "incident Does Not Exist"}},
            headers={"x-ms-service-request-id": "req-9"},
        )
        with pytest.raises(CRMNotFound) as info:
            client.get_case(ID)
    assert info.value.crm_code == "0x80040217" and info.value.request_id == "req-9"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _token(rsps)
        rsps.get(f"{DV_BASE}incidents({ID})", json={"statecode": 0, "prioritycode": 2})
        rsps.patch(
            f"{DV_BASE}incidents({ID})",
            status=400,
            json={"error": {"code": "0x1", "message": "bad"}},
        )
        with pytest.raises(CRMRejected):
            client.update_case(ID, {"prioritycode": 99})


def test_429_with_retry_after_is_retried(make_dataverse) -> None:
    client = make_dataverse()
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.get(
            f"{DV_BASE}incidents({ID})",
            status=429,
            headers={"Retry-After": "0"},
            json={"error": {"code": "0x80072322", "message": "slow down"}},
        )
        rsps.get(f"{DV_BASE}incidents({ID})", json={"incidentid": ID})
        assert client.get_case(ID)["incidentid"] == ID


def test_refused_client_credentials_are_an_auth_error(make_dataverse) -> None:
    client = make_dataverse()
    with responses.RequestsMock() as rsps:
        dv_discovery(rsps)
        rsps.post(
            DV_TOKEN,
            status=401,
            json={
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                "Trace ID: 1\r\nCorrelation ID: 2",
                "error_codes": [7000215],
            },
        )
        with pytest.raises(CRMAuthError) as info:
            client.get_case(ID)
    assert "AADSTS7000215: Invalid client secret provided." in str(info.value)
    assert "dv-secret" not in str(info.value) and "Trace ID" not in str(info.value)
