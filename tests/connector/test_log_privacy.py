"""With every logger at DEBUG, a whole create sequence logs no constituent data and no secret.

Runs over a real loopback server, so requests, urllib3 and zeep all log as they would in
production (an in-process `responses` mock would skip urllib3's request lines).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest

from connector.base import Attachment
from connector.dataverse import DataverseClient
from connector.lagan import LaganClient
from connector.settings import CRMSettings
from tests.connector.conftest import fast_resilience
from tests.connector.dataverse_cases import create_payload

SURNAME = "Quillfeather"
FORENAME = "Ottoline"
POSTCODE = "ZZ9 9QQ"
NOTE = "Ottoline's damp bedroom wall"


def _settings(handle: Any, **values: Any) -> CRMSettings:
    return CRMSettings(allowed_hosts=["127.0.0.1"], **values)


def _client_side_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged in the process except by the sandbox CRM itself (the far side)."""
    records = [r for r in caplog.records if not r.name.startswith("caseload.sandbox")]
    assert records, "nothing was logged: the test would prove nothing"
    return "\n".join(f"{r.name} {r.getMessage()}" for r in records)


def _leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    needles = (SURNAME, FORENAME, "damp bedroom", *secrets)
    postcodes = (POSTCODE, POSTCODE.replace(" ", "+"), POSTCODE.replace(" ", "%20"))
    return [needle for needle in (*needles, *postcodes) if needle in text]


@pytest.mark.sandbox_crm(cases=3)
@pytest.mark.parametrize("zeep_level", [None, logging.DEBUG], ids=["default", "zeep-forced-debug"])
def test_lagan_create_sequence_logs_no_personal_data_or_password_at_debug(
    sandbox_crm_server, caplog, zeep_level
) -> None:
    caplog.set_level(logging.DEBUG)
    if zeep_level is not None:  # an operator's logging config turns zeep up: still no envelopes
        caplog.set_level(zeep_level, logger="zeep.transports")
    client = LaganClient(
        _settings(
            sandbox_crm_server,
            endpoint=sandbox_crm_server.fl_url,
            auth_endpoint=sandbox_crm_server.flauth_url,
            username=sandbox_crm_server.username,
            password=sandbox_crm_server.password,
            auth_mode="flauth",
        ),
        resilience=fast_resilience("lagan"),
    )
    try:
        party = client.create_party(
            {"Name": [{"Forename": FORENAME, "Surname": SURNAME, "Preferred": True}]}
        )
        assert client.search_parties(name=SURNAME, forename=FORENAME)
        case = client.create_case(
            {"ClassificationEventCode": 103, "Title": f"{FORENAME} {SURNAME}: damp"},
            str(uuid.uuid4()),
        )
        client.add_note(
            case.reference,
            NOTE,
            [Attachment(name="wall.txt", content=b"mould")],
            idempotency_key=str(uuid.uuid4()),
        )
        assert client.get_party(party.reference)["Name"][0]["Surname"] == SURNAME
    finally:
        client.close()
    text = _client_side_log(caplog)
    assert _leaks(text, (sandbox_crm_server.password,)) == []
    assert "Envelope" not in text


@pytest.mark.sandbox_crm(cases=3)
def test_dataverse_create_sequence_logs_no_personal_data_or_secret_at_debug(
    sandbox_crm_server, caplog
) -> None:
    caplog.set_level(logging.DEBUG)
    client = DataverseClient(
        _settings(
            sandbox_crm_server,
            kind="dynamics365",
            endpoint=sandbox_crm_server.dataverse_url,
            token_url=sandbox_crm_server.token_url,
            client_id=sandbox_crm_server.client_id,
            client_secret=sandbox_crm_server.client_secret,
            auth_mode="oauth2",
        ),
        resilience=fast_resilience("dynamics365"),
    )
    try:
        client.create_party(
            {"firstname": FORENAME, "lastname": SURNAME, "address1_postalcode": POSTCODE}
        )
        assert client.search_parties(name=SURNAME, postcode=POSTCODE)
        payload = create_payload(title=f"{FORENAME} {SURNAME}: damp")  # a new resident
        case = client.create_case(payload, str(uuid.uuid4()))
        client.add_note(case.reference, NOTE, idempotency_key=str(uuid.uuid4()))
    finally:
        client.close()
    assert _leaks(_client_side_log(caplog), (sandbox_crm_server.client_secret,)) == []


@pytest.mark.sandbox_crm(cases=3)
def test_sandbox_server_logs_method_path_status_and_time_but_no_query(
    sandbox_crm_server, caplog
) -> None:
    caplog.set_level(logging.DEBUG, logger="caseload.sandbox.server")
    client = DataverseClient(
        _settings(
            sandbox_crm_server,
            kind="dynamics365",
            endpoint=sandbox_crm_server.dataverse_url,
            token_url=sandbox_crm_server.token_url,
            client_id=sandbox_crm_server.client_id,
            client_secret=sandbox_crm_server.client_secret,
            auth_mode="oauth2",
        ),
        resilience=fast_resilience("dynamics365"),
    )
    try:
        client.search_parties(name=SURNAME, postcode=POSTCODE)
    finally:
        client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "caseload.sandbox.server"]
    searches = [line for line in lines if line.startswith("GET /api/data/v9.2/contacts ")]
    assert searches, f"no request line for the search was logged: {lines}"
    assert all(re.fullmatch(r"(GET|POST) /\S* \d{3} \d+\.\dms", line) for line in lines), lines
    text = "\n".join(lines)
    assert _leaks(text, (sandbox_crm_server.client_secret,)) == []
    assert "?" not in text and "$filter" not in text and "127.0.0.1" not in text
