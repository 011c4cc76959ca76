"""Lagan client against `responses`: shapes, faults, idempotent create, token renewal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import responses

from connector.errors import CRMAuthError, CRMNotFound, CRMRejected
from tests.connector.conftest import fast_resilience
from tests.connector.fakes import ENDPOINT, fault
from tests.connector.lagan_helpers import create_payload, lagan_client, member_case


def _body(request: Any) -> bytes:
    body = request.body or b""
    return body.encode() if isinstance(body, str) else bytes(body)


FIXTURES = Path(__file__).parents[1] / "fixtures" / "crm" / "lagan"


def test_lxml_and_zeep_paths_give_identical_raw_cases(make_lagan) -> None:
    client = make_lagan()
    body = (FIXTURES / "case_full.xml").read_bytes()
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.post(ENDPOINT, body=body)
        rsps.post(ENDPOINT, body=body)
        streamed = client.get_case("101000002951")
        via_zeep = client.get_case_via_zeep("101000002951")
    assert streamed == via_zeep
    assert streamed["Form"]["FormField"][2] == {"Value": "", "Key": "SharingColleague"}
    assert streamed["CoreDetails"]["Classification"]["Classifier"] == ["roads"]
    assert streamed["Notes"]["Note"][0]["NoteID"] == "5"


def test_username_token_goes_on_every_call_and_password_is_not_logged(make_lagan, caplog) -> None:
    client = make_lagan()
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=(FIXTURES / "case_full.xml").read_bytes())
        client.get_case("101000002951")
        sent = _body(rsps.calls[0].request)
    assert b"<ns0:Username>caseload-svc</ns0:Username>" in sent
    assert b"PasswordText" in sent
    assert "s3cret-pass" not in caplog.text


def test_fault_codes_become_typed_errors_with_operation_and_code(make_lagan) -> None:
    client = make_lagan()
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, status=500, body=fault(1004, "case not found"))
        with pytest.raises(CRMNotFound) as info:
            client.get_case("101000000009")
    assert info.value.operation == "retrieveCaseDetails"
    assert info.value.crm_code == "1004"
    assert not info.value.retryable
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, status=500, body=fault(1000, "ClassificationEventCode unknown"))
        with pytest.raises(CRMRejected):
            client.update_case("101000000001", {"Title": "x"})


def test_zeep_path_fault_keeps_error_code(make_lagan) -> None:
    """Codes are opaque (no public table): kept for the ticket, never used to decide."""
    client = make_lagan()
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, status=500, body=fault(1011, "case is not closed"))
        with pytest.raises(CRMRejected) as info:
            client.update_case("101000000001", {"Title": "x"})
    assert info.value.crm_code == "1011"
    assert info.value.operation == "updateCase"
    assert "case is not closed" in str(info.value)


def test_wrong_credentials_are_not_retried(make_lagan) -> None:
    client = make_lagan(resilience=fast_resilience("lagan"))
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, status=500, body=fault(1001, "authentication failed"))
        with pytest.raises(CRMAuthError):
            client.get_case("101000000001")
        assert len(rsps.calls) == 1


def test_basic_auth_sends_authorization_header_and_no_security_header(make_lagan) -> None:
    client = make_lagan(auth_mode="basic")
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=(FIXTURES / "case_full.xml").read_bytes())
        client.get_case("101000002951")
        request = rsps.calls[0].request
    assert request.headers["Authorization"].startswith("Basic ")
    assert b"Security" not in _body(request)


def test_wsdl_hash_mismatch_refuses_to_build(make_lagan) -> None:
    from connector.errors import CRMContractError

    with pytest.raises(CRMContractError, match="pinned"):
        make_lagan(wsdl_sha256="0" * 64)


@pytest.mark.sandbox_crm(cases=5)
def test_create_case_stamps_the_portal_id_and_reports_created(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm)
    payload = create_payload(member_case(sandbox_crm, "Bins not collected"))
    ref = client.create_case(payload, "key-1")
    again = client.create_case(payload, "key-1")
    assert ref.created and not again.created
    assert ref.reference == again.reference
    assert sandbox_crm.store.case(ref.reference)["form"]["PortalId"] == "key-1"
    assert sandbox_crm.count_cases(PortalId="key-1") == 1


@pytest.mark.sandbox_crm(cases=5)
def test_expired_flauth_token_causes_exactly_one_reauthentication(sandbox_crm) -> None:
    client = lagan_client(sandbox_crm, mode="flauth")
    client.create_case(create_payload(member_case(sandbox_crm, "A")), "k-a")
    assert client.auth.authentications == 1
    sandbox_crm.crm.app.expire_sessions()
    made = client.create_case(create_payload(member_case(sandbox_crm, "B")), "k-b")
    client.get_case(made.reference)
    assert client.auth.authentications == 2


@pytest.mark.sandbox_crm(cases=5)
def test_debug_logging_never_shows_envelopes_or_secrets(sandbox_crm, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    client = lagan_client(sandbox_crm)
    client.create_case(create_payload(member_case(sandbox_crm, "Jane Smith's damp flat")), "k")
    assert logging.getLogger("zeep.transports").getEffectiveLevel() >= logging.INFO
    assert "Jane Smith" not in caplog.text
    assert sandbox_crm.password not in caplog.text
    assert "Envelope" not in caplog.text
