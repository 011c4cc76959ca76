"""A strict zeep client built from the served WSDL runs the real create sequence, every auth
style, against both fixtures, and every response body validates against the WSDL's schema."""

from __future__ import annotations

import uuid

import pytest
from lxml import etree

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.schema import fl_model
from tests.sandbox.helpers import Capture, fl_client

SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
STYLES = ["wsse", "token", "basic"]


def _run_create_sequence(crm: SandboxHandle, style: str) -> None:
    capture = Capture()
    client = fl_client(crm, style, capture)
    portal_id = str(uuid.uuid4())

    found = client.service.searchForParty(SearchType="individual", Name="Nobody-Such")
    assert found == []
    party = client.service.createIndividual(
        Name=[{"Forename": "Tess", "Surname": "Nobody-Such", "Preferred": True}],
        ContactPostals=[
            {
                "AddressLine": "1 Mill Lane",
                "Postcode": "FM1 1AA",
                "Usage": "home",
                "Preferred": True,
            }
        ],
        ContactEmails=[{"EmailAddress": "tess@mail.example", "Usage": "home", "Preferred": True}],
    )
    assert party.ObjectType == "C1"
    again = client.service.searchForParty(
        SearchType="individual", Name="nobody-such", Postcode="fm11aa"
    )
    assert [p.ObjectID.ObjectReference for p in again] == [party.ObjectReference]
    interaction = client.service.createInteraction(
        Channel="Web",
        Verified=True,
        PartyID={"ObjectType": "C1", "ObjectReference": party.ObjectReference},
    )
    ref = client.service.createCase(
        ClassificationEventCode=101,
        Title="Pothole outside 1 Mill Lane",
        Description="Deep pothole",
        AssociatedObject={
            "ObjectID": {"ObjectType": "C1", "ObjectReference": party.ObjectReference},
            "ObjectDescription": "Tess Nobody-Such",
        },
        Form={
            "FormField": [
                {"Key": "PortalId", "Value": portal_id},
                {"Key": "MemberId", "Value": "cllr-0001"},
                {"Key": "Sharing", "Value": "ward"},
            ],
            "FormName": "MemberEnquiry",
        },
        InteractionID=interaction,
    )
    assert len(ref) == 12 and ref.isdigit()
    assert crm.count_cases(PortalId=portal_id) == 1
    note_id = client.service.createNotes(
        ParentId=int(ref), ParentType=0, NoteDetails={"Text": "Reported by phone"}
    )
    assert note_id > 0
    details = client.service.retrieveCaseDetails(CaseReference=ref, Option=["all"])
    assert details.CoreDetails.CaseReference == ref
    assert details.CoreDetails.Status == "open"
    assert details.CoreDetails.AssociatedObject.ObjectID.ObjectReference == party.ObjectReference
    form = {f.Key: f.Value for f in details.Form.FormField}
    assert form["PortalId"] == portal_id and form["Sharing"] == "ward"
    assert [n.Text for n in details.Notes.Note] == ["Reported by phone"]
    assert details.Interactions.InteractionDetails[0].InteractionID == interaction
    assert client.service.closeCases(CaseReference=[ref], Reason={"Title": "resolved"}) == 0
    # The published search has no form-field filter: find it by status, title and party.
    closed = client.service.searchForCases(
        Status="closed",
        Title="Pothole outside 1 Mill Lane",
        AssociatedObjectId={"ObjectType": "C1", "ObjectReference": party.ObjectReference},
    )
    assert [(c.CaseReference, c.Status) for c in closed] == [(ref, "closed")]

    schema = fl_model().xml_schema()
    assert len(capture.received) >= 9
    for env in capture.received:
        body = env.find(SOAP_BODY)
        assert body is not None
        for child in body:
            assert schema.validate(child), (etree.tostring(child)[:300], schema.error_log)


@pytest.mark.parametrize("sandbox_crm", STYLES, indirect=True)
def test_zeep_create_sequence_in_process_with_each_auth_style(sandbox_crm: SandboxHandle) -> None:
    _run_create_sequence(sandbox_crm, sandbox_crm.auth_style)


@pytest.mark.parametrize("sandbox_crm_server", STYLES, indirect=True)
def test_zeep_create_sequence_over_http_with_each_auth_style(
    sandbox_crm_server: SandboxHandle,
) -> None:
    _run_create_sequence(sandbox_crm_server, sandbox_crm_server.auth_style)


@pytest.mark.parametrize("sandbox_crm", ["wsse"], indirect=True)
def test_a_client_using_another_auth_style_than_configured_is_refused(
    sandbox_crm: SandboxHandle,
) -> None:
    from zeep.exceptions import Fault

    client = fl_client(sandbox_crm, "basic")
    with pytest.raises(Fault) as info:
        client.service.retrieveCodeBook("CaseCategory")
    assert "UsernameToken" in info.value.message
