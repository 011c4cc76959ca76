"""Malformed, hostile or unknown SOAP requests get a proper FWTException fault, never a trace."""

from __future__ import annotations

import pytest
from lxml import etree

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.schema import fl_model
from tests.sandbox.helpers import envelope, fault_of, soap_post, wsse_header

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<fl:CodeBookName xmlns:fl="http://www.lagan.com/wsdl/FLTypes">&lol2;</fl:CodeBookName>
</soapenv:Body></soapenv:Envelope>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<fl:CodeBookName xmlns:fl="http://www.lagan.com/wsdl/FLTypes">&xxe;</fl:CodeBookName>
</soapenv:Body></soapenv:Envelope>"""


@pytest.mark.parametrize(
    "payload",
    [
        BILLION_LAUGHS,
        XXE,
        XXE.decode().replace('"1.0"', '"1.0" encoding="UTF-16"').encode("utf-16"),
    ],
    ids=["billion-laughs", "xxe", "xxe-utf16"],
)
def test_doctype_and_entities_are_refused_with_a_fault(
    sandbox_crm_server: SandboxHandle, payload: bytes
) -> None:
    response = soap_post(sandbox_crm_server, payload)
    assert response.status_code == 400
    fault = fault_of(response)
    assert fault["ErrorCode"] == "1005"
    assert "root:" not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"<not-closed",
        b"<a/>",
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'/>",
        "<x>\u00e9</x>".encode("latin-1"),
    ],
    ids=["empty", "broken", "not-soap", "no-body", "bad-encoding"],
)
def test_malformed_envelopes_get_a_client_fault(sandbox_crm: SandboxHandle, payload: bytes) -> None:
    response = soap_post(sandbox_crm, payload)
    assert response.status_code == 400
    assert fault_of(response)["ErrorCode"] == "1005"


def test_unknown_operation_gets_a_fault(sandbox_crm: SandboxHandle) -> None:
    body = envelope("<fl:launchRocket/>", wsse_header(sandbox_crm.username, sandbox_crm.password))
    response = soap_post(sandbox_crm, body)
    assert response.status_code == 400
    assert fault_of(response)["ErrorCode"] == "1003"
    root = etree.fromstring(response.content)
    detail = root.find(".//{http://www.lagan.com/wsdl/FLTypes}FWTException")
    assert detail is not None and fl_model().xml_schema().validate(detail)


def test_known_but_unimplemented_operation_gets_a_fault(sandbox_crm: SandboxHandle) -> None:
    body = envelope(
        "<fl:FLDeleteCaseList><CaseReference>1</CaseReference></fl:FLDeleteCaseList>",
        wsse_header(sandbox_crm.username, sandbox_crm.password),
    )
    fault = fault_of(soap_post(sandbox_crm, body))
    assert fault["ErrorCode"] == "1003" and "not implemented" in fault["ErrorMessage"]


def test_missing_or_wrong_credentials_are_refused_without_echoing_them(
    sandbox_crm: SandboxHandle,
) -> None:
    body = "<fl:CodeBookName>CaseCategory</fl:CodeBookName>"
    missing = soap_post(sandbox_crm, envelope(body))
    assert fault_of(missing)["ErrorCode"] == "1001"
    wrong = soap_post(sandbox_crm, envelope(body, wsse_header("caseload", "hunter2-guess")))
    assert fault_of(wrong)["ErrorCode"] == "1001"
    assert "hunter2-guess" not in wrong.text


def test_invalid_values_are_faults_not_stack_traces(sandbox_crm: SandboxHandle) -> None:
    body = envelope(
        "<fl:FWTCaseCreate><ClassificationEventCode>roads</ClassificationEventCode>"
        "</fl:FWTCaseCreate>",
        wsse_header(sandbox_crm.username, sandbox_crm.password),
    )
    response = soap_post(sandbox_crm, body)
    assert response.status_code == 500
    assert fault_of(response)["ErrorCode"] == "1000"
    assert "Traceback" not in response.text


def test_unknown_request_elements_are_refused_as_apache_axis_does(
    sandbox_crm: SandboxHandle,
) -> None:
    search = envelope(
        "<fl:FWTCaseSearch><ResultsLimit>2</ResultsLimit><FutureField>x</FutureField>"
        "</fl:FWTCaseSearch>",
        wsse_header(sandbox_crm.username, sandbox_crm.password),
    )
    response = soap_post(sandbox_crm, search)
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.findtext(".//faultcode") == "soapenv:Server.userException"
    assert root.findtext(".//faultstring") == (
        "org.xml.sax.SAXException: Invalid element in lagan.api.main.FWTCaseSearch - FutureField"
    )
    assert root.find(".//{*}FWTException") is None  # Axis sends no FWTException detail
    # Nested beans too: FWTObjectID has ObjectType and ObjectReference only.
    nested = envelope(
        "<fl:FWTCaseSearch><AssociatedObjectId><fl:ObjectType>C1</fl:ObjectType>"
        "<Colour>red</Colour></AssociatedObjectId></fl:FWTCaseSearch>",
        wsse_header(sandbox_crm.username, sandbox_crm.password),
    )
    assert "Invalid element in" in soap_post(sandbox_crm, nested).text


def test_other_stacks_ignore_unknown_elements_when_told_to(sandbox_crm: SandboxHandle) -> None:
    sandbox_crm.set_lagan(unknown="ignore")
    search = envelope(
        "<fl:FWTCaseSearch><ResultsLimit>2</ResultsLimit><FutureField>x</FutureField>"
        "<LastModifiedDateFrom>2999-01-01T00:00:00Z</LastModifiedDateFrom></fl:FWTCaseSearch>",
        wsse_header(sandbox_crm.username, sandbox_crm.password),
    )
    response = soap_post(sandbox_crm, search)
    # The unknown filter is simply not applied: cases come back although none changed in 2999.
    assert response.status_code == 200 and response.text.count("<CaseBriefDetails>") == 2


def test_wsdl_is_served_with_the_sandbox_address(sandbox_crm_server: SandboxHandle) -> None:
    import requests

    text = requests.get(sandbox_crm_server.fl_wsdl_url, timeout=5).text
    assert f'location="{sandbox_crm_server.fl_url}"' in text
    auth = requests.get(sandbox_crm_server.flauth_wsdl_url, timeout=5).text
    assert f'location="{sandbox_crm_server.flauth_url}"' in auth


def test_the_published_wsdl_is_served_unmodified_and_the_later_build_only_when_asked(
    sandbox_crm_server: SandboxHandle,
) -> None:
    import re
    from pathlib import Path

    import requests

    published = Path(__file__).parents[2] / "connector" / "lagan" / "wsdl" / "FLService.wsdl"
    expected = re.sub(
        r'location="[^"]*"', f'location="{sandbox_crm_server.fl_url}"', published.read_text()
    )
    assert requests.get(sandbox_crm_server.fl_wsdl_url, timeout=5).text == expected
    assert "LastModifiedDateFrom" not in expected
    sandbox_crm_server.set_lagan(build="later")
    later = requests.get(sandbox_crm_server.fl_wsdl_url, timeout=5).text
    assert '<xs:element name="LastModifiedDateFrom" type="xs:dateTime" minOccurs="0"/>' in later
    assert "FormField" not in later.split('name="FWTCaseSearch"', 1)[1].split("</xs:element>")[0]
