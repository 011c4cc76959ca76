"""The remaining FL operations behave like Lagan and answer schema-valid bodies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from lxml import etree
from zeep.exceptions import Fault

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.schema import fl_model, flauth_model
from tests.sandbox.helpers import BinaryToken, Capture, fl_client, flauth_token

SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"


def _assert_all_valid(capture: Capture) -> None:
    schema = fl_model().xml_schema()
    for env in capture.received:
        body = env.find(SOAP_BODY)
        assert body is not None
        for element in body:
            child = element
            if child.tag.endswith("Fault"):
                detail = child.find("detail")
                assert detail is not None
                child = detail[0]
            assert schema.validate(child), (etree.tostring(child)[:300], schema.error_log)


def test_search_and_retrieve_returns_full_seeded_cases_valid_against_the_schema(
    sandbox_crm: SandboxHandle,
) -> None:
    sandbox_crm.set_lagan(search_cap=1000)
    capture = Capture()
    client = fl_client(sandbox_crm, "wsse", capture)
    cases = client.service.searchAndRetrieveCaseDetails(
        FWTCaseSearch={"ResultsLimit": 50}, Option=["all"]
    )
    assert len(cases) == 50
    statuses = {
        c.CoreDetails.Status
        for c in client.service.searchAndRetrieveCaseDetails(
            FWTCaseSearch={"ResultsLimit": 500}, Option=["all"]
        )
    }
    assert statuses == {"draft", "open", "open-service", "responded", "closed", "reopened"}
    first = cases[0]
    keys = {f.Key for f in first.Form.FormField}
    assert {"PortalId", "MemberId", "WardId", "Sharing", "LawfulBasis", "UPRN"} <= keys
    assert first.Notes.Note
    _assert_all_valid(capture)


def test_search_for_cases_honours_results_limit_and_last_modified_window(
    sandbox_crm: SandboxHandle,
) -> None:
    sandbox_crm.set_lagan(build="later", search_cap=1000)  # the later build has the window
    client = fl_client(sandbox_crm, "wsse")
    modified = sorted(c["modified"] for c in sandbox_crm.store.cases.values())
    lo, hi = modified[20], modified[60]
    got = client.service.searchForCases(
        LastModifiedDateFrom=lo, LastModifiedDateTo=hi, ResultsLimit=1000
    )
    expected = {c["ref"] for c in sandbox_crm.store.cases.values() if lo <= c["modified"] <= hi}
    assert {c.CaseReference for c in got} == expected
    assert len(client.service.searchForCases(ResultsLimit=7)) == 7
    sandbox_crm.set_lagan(search_cap=5)  # the server's cap wins over ResultsLimit
    assert len(client.service.searchForCases(ResultsLimit=7)) == 5
    assert len(client.service.searchForCases(Status="closed", ResultsLimit=1000)) == 5


def test_status_open_is_every_case_not_closed(sandbox_crm: SandboxHandle) -> None:
    sandbox_crm.set_lagan(search_cap=1000)
    client = fl_client(sandbox_crm, "wsse")
    cases = sandbox_crm.store.cases.values()
    for status, expected in (
        ("open", {c["ref"] for c in cases if c["status"] != "closed"}),
        ("closed", {c["ref"] for c in cases if c["status"] == "closed"}),
        ("all", {c["ref"] for c in cases}),
    ):
        got = client.service.searchForCases(Status=status, ResultsLimit=1000)
        assert {c.CaseReference for c in got} == expected


def test_search_finds_a_case_by_portal_id_query_string(sandbox_crm: SandboxHandle) -> None:
    case = next(iter(sandbox_crm.store.cases.values()))
    capture = Capture()
    client = fl_client(sandbox_crm, "wsse", capture)
    result = client.service.search(QueryString=f"PortalId:{case['form']['PortalId']}")
    assert result.TotalHits == 1 and case["ref"] == result.Hit[0].ID
    _assert_all_valid(capture)


def test_update_reopen_link_notes_documents_parties_and_codebook(
    sandbox_crm: SandboxHandle,
) -> None:
    capture = Capture()
    client = fl_client(sandbox_crm, "basic", capture)
    refs = [c["ref"] for c in sandbox_crm.store.cases.values() if c["status"] != "closed"][:2]
    closed = next(c["ref"] for c in sandbox_crm.store.cases.values() if c["status"] == "closed")
    assert (
        client.service.updateCase(
            CaseReference=refs[0],
            Title="New title",
            NewNote=["chased"],
            Form={
                "FormField": [
                    {"Key": "Status", "Value": "open-service"},
                    {"Key": "Sharing", "Value": "named"},
                ]
            },
        )
        == 0
    )
    case = sandbox_crm.store.case(refs[0])
    assert (case["title"], case["status"], case["form"]["Sharing"]) == (
        "New title",
        "open-service",
        "named",
    )
    assert client.service.reopenCase(CaseReference=closed, Reason="resident came back") == 0
    assert sandbox_crm.store.case(closed)["status"] == "reopened"
    assert client.service.linkCases(CaseID=int(refs[0]), TargetCaseID=int(refs[1]), LinkType=1) == 0
    detail = client.service.retrieveCaseDetails(CaseReference=refs[0], Option=["all"])
    assert detail.LinkCases[0].LinkedCase == refs[1]
    doc_ref = client.service.addDocumentToRepository(
        Document=base64.b64encode(b"%PDF-1.4 letter").decode(),
        DocumentType=1,
        DocumentName="letter.pdf",
    )
    doc = client.service.getDocumentFromRepository(doc_ref)
    assert base64.b64decode(doc.Document) == b"%PDF-1.4 letter"
    client.service.createNotes(
        ParentId=int(refs[0]),
        ParentType=0,
        NoteDetails={
            "Text": "letter attached",
            "NoteAttachments": {
                "NoteAttachmentList": [
                    {"AttachmentName": "letter.pdf", "AttachmentIdentifier": doc_ref}
                ]
            },
        },
    )
    notes = client.service.getNotes(ParentId=int(refs[0]), ParentType=0)
    assert notes[-1].NoteAttachments.NoteAttachmentList[0].AttachmentIdentifier == doc_ref
    party_ref = case["party"]
    person = client.service.retrieveIndividual(ObjectType="C1", ObjectReference=party_ref)
    assert person.BriefDetails.ObjectID.ObjectReference == party_ref
    assert (
        client.service.updateIndividual(
            BriefDetails={
                "ObjectID": {"ObjectType": "C1", "ObjectReference": party_ref},
                "ObjectDescription": "x",
            },
            SurveyConsentUpdate={"SurveyConsent": "1"},
        )
        == 0
    )
    assert sandbox_crm.store.party(party_ref)["survey_consent"] == "1"
    book = client.service.retrieveCodeBook("CaseCategory")
    assert [c.CodeKey for c in book.Codes.Code][:2] == ["roads", "waste"]
    with pytest.raises(Fault) as info:
        client.service.retrieveCaseDetails(CaseReference="999999999999", Option=["all"])
    assert "not found" in info.value.message
    _assert_all_valid(capture)


def test_closing_a_closed_case_is_a_lagan_fault(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "wsse")
    closed = next(c["ref"] for c in sandbox_crm.store.cases.values() if c["status"] == "closed")
    with pytest.raises(Fault) as info:
        client.service.closeCases(CaseReference=[closed], Reason={"Title": "again"})
    assert "already closed" in info.value.message


@pytest.mark.parametrize("sandbox_crm", ["token"], indirect=True)
def test_flauth_verify_proxy_and_token_expiry(sandbox_crm: SandboxHandle) -> None:
    from tests.sandbox.helpers import SETTINGS, Client

    token = flauth_token(sandbox_crm)
    auth = Client(sandbox_crm.flauth_wsdl_url, settings=SETTINGS, wsse=BinaryToken(token))
    assert auth.service.verify().UserID == sandbox_crm.username
    verify_capture = Capture()
    Client(
        sandbox_crm.flauth_wsdl_url,
        settings=SETTINGS,
        wsse=BinaryToken(token),
        plugins=[verify_capture],
    ).service.verify()
    body = verify_capture.received[-1].find(SOAP_BODY)
    assert body is not None
    assert flauth_model().xml_schema().validate(body[0])
    proxy_capture = Capture()
    proxy = Client(
        sandbox_crm.flauth_wsdl_url,
        settings=SETTINGS,
        wsse=BinaryToken(token),
        plugins=[proxy_capture],
    )
    proxy.service.authenticateByProxy(UserID="cllr-0007")
    proxy_token = proxy_capture.received[-1].findtext(".//{*}BinarySecurityToken")
    assert proxy_token
    as_member = Client(
        sandbox_crm.flauth_wsdl_url, settings=SETTINGS, wsse=BinaryToken(proxy_token)
    )
    assert as_member.service.verify().UserID == "cllr-0007"
    sandbox_crm.crm.app.expire_sessions()
    with pytest.raises(Fault) as info:
        auth.service.verify()
    assert info.value.detail.find(".//ErrorCode").text == "1002"


@pytest.mark.parametrize("sandbox_crm", [{"auth": None, "auth_style": "token"}], indirect=True)
def test_tokens_expire_after_their_lifetime(sandbox_crm: SandboxHandle) -> None:
    from connector.sandbox.app import AuthConfig

    sandbox_crm.crm.app.auth = AuthConfig(style="token", token_ttl_seconds=0.05)
    client = fl_client(sandbox_crm, "token")
    import time

    time.sleep(0.1)
    with pytest.raises(Fault) as info:
        client.service.retrieveCodeBook("CaseCategory")
    assert "expired" in info.value.message


def test_created_after_and_before_bound_the_opening_date(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "wsse")
    now = datetime.now(UTC)
    got = client.service.searchForCases(
        CreatedAfter=now - timedelta(days=30), CreatedBefore=now, ResultsLimit=5000
    )
    for brief in got:
        assert now - timedelta(days=30) <= brief.Opened <= now
