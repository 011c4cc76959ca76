"""`crm.max_response_bytes` applies on every path, and the JSON depth check reads JSON right."""

from __future__ import annotations

import json

import pytest
import responses

from connector.errors import CRMContractError
from connector.settings import DEFAULT_MAX_RESPONSE_BYTES, CRMSettings
from connector.transport import MAX_BUFFERED_NODES, MAX_JSON_DEPTH, json_too_deep
from tests.connector.conftest import DV_BASE, DV_TOKEN, dv_discovery, lagan_settings
from tests.connector.fakes import ENDPOINT, case_xml, envelope

GUID = "6a4b1e0c-1d2e-4f3a-8b5c-0d1e2f3a4b5c"
LIMIT = 4096


def test_the_default_limit_is_32_mib_and_configurable() -> None:
    assert lagan_settings().max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES == 32 * 1024**2
    assert lagan_settings(max_response_bytes=LIMIT).max_response_bytes == LIMIT
    with pytest.raises(ValueError):
        CRMSettings(**{**lagan_settings().model_dump(), "max_response_bytes": 10})


def _big_case() -> bytes:
    return envelope(case_xml("101000000001", "k", "t" * (2 * LIMIT), "2026-01-01T00:00:00Z"))


@pytest.mark.parametrize("path", ["streamed-read", "zeep-write"])
def test_lagan_answers_over_the_configured_limit_are_refused(make_lagan, path) -> None:
    client = make_lagan(max_response_bytes=LIMIT)
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=_big_case(), auto_calculate_content_length=False)
        with pytest.raises(CRMContractError, match=f"{LIMIT}-byte limit") as info:
            if path == "streamed-read":
                client.get_case("101000000001")
            else:
                client.update_case("101000000001", {"Title": "x"})
    assert info.value.crm == "lagan" and info.value.operation


def test_lagan_answers_within_the_limit_are_read(make_lagan) -> None:
    client = make_lagan(max_response_bytes=len(_big_case()))
    with responses.RequestsMock() as rsps:
        rsps.post(ENDPOINT, body=_big_case())
        assert client.get_case("101000000001")["CoreDetails"]["Title"] == "t" * (2 * LIMIT)


def test_dataverse_pages_over_the_configured_limit_are_refused(make_dataverse) -> None:
    client = make_dataverse(max_response_bytes=LIMIT)
    record = {"incidentid": GUID, "title": "t" * (2 * LIMIT)}
    with responses.RequestsMock() as rsps:
        dv_discovery(rsps)
        rsps.post(DV_TOKEN, json={"access_token": "t", "expires_in": 3600})
        rsps.get(f"{DV_BASE}incidents({GUID})", json=record)
        with pytest.raises(CRMContractError, match="limit") as info:
            client.get_case(GUID)
    assert info.value.crm == "dynamics365"


def test_an_announced_length_over_the_limit_is_refused_before_reading(make_dataverse) -> None:
    client = make_dataverse(max_response_bytes=LIMIT)
    with responses.RequestsMock() as rsps:
        dv_discovery(rsps)
        rsps.post(DV_TOKEN, json={"access_token": "t", "expires_in": 3600})
        rsps.get(
            f"{DV_BASE}incidents({GUID})",
            body=b"{}",
            headers={"Content-Length": str(10 * LIMIT)},
            auto_calculate_content_length=False,
        )
        with pytest.raises(CRMContractError, match="announces"):
            client.get_case(GUID)


@pytest.mark.parametrize(
    ("document", "deep"),
    [
        ({"value": [{"a": {"b": [1, 2, {"c": None}]}}]}, False),
        ("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, False),
        ("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1), True),
        ("{" + '"a":{' * 200_000 + "}" * 200_001, True),
        ({"text": "[[[[[[" * 100 + '\\"{{{{' * 100}, False),  # brackets inside strings
        ("[" * 500 + "}" * 500, False),  # unbalanced: left for the JSON parser to refuse
    ],
)
def test_json_depth_is_measured_without_recursion(document: object, deep: bool) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    assert json_too_deep(text.encode()) is deep


def test_a_long_streamed_answer_is_read_whole_however_many_elements_it_holds() -> None:
    """The element limit bounds what is held at once, not the answer: 30,000 cases of 25
    elements (750,000 in all), with stray elements between them, stream through."""
    from connector.lagan.xmlraw import iter_elements

    one = case_xml("101000000001", "k", "t", "2026-01-01T00:00:00Z").encode() + b"<x/>" * 3
    body = envelope("<fl:FWTCaseFullDetailsList>" + "</fl:FWTCaseFullDetailsList>")
    head, tail = body.split(b"</fl:FWTCaseFullDetailsList>")
    chunks = [head, *(one * 100 for _ in range(300)), b"</fl:FWTCaseFullDetailsList>" + tail]
    assert sum(chunk.count(b"<") for chunk in chunks) > 2 * MAX_BUFFERED_NODES
    seen = sum(1 for _ in iter_elements(chunks, "FWTCaseFullDetails", max_text=1000))
    assert seen == 30_000
