"""Dataverse case reads carry the case's annotations, completed when Dataverse cuts them short."""

from __future__ import annotations

import json

import responses

from tests.connector.conftest import DV_BASE, DV_TOKEN

ID = "11111111-2222-3333-4444-555555555555"


def _token(rsps: responses.RequestsMock) -> None:
    rsps.add(
        "POST", DV_TOKEN, body=json.dumps({"access_token": "t", "expires_in": 3600}), status=200
    )


def test_a_case_read_expands_annotations_and_follows_their_next_link(make_dataverse) -> None:
    client = make_dataverse()
    more = f"{DV_BASE}incidents({ID})/Incident_Annotation?$skiptoken=2"
    with responses.RequestsMock() as rsps:
        _token(rsps)
        rsps.get(
            f"{DV_BASE}incidents({ID})",
            json={
                "incidentid": ID,
                "@odata.etag": "W/1",
                "Incident_Annotation": [{"annotationid": "a1", "@odata.etag": "W/2"}],
                "Incident_Annotation@odata.nextLink": more,
            },
        )
        rsps.get(more, json={"value": [{"annotationid": "a2"}]})
        case = client.get_case(ID)
        asked = str(rsps.calls[1].request.url)
    assert "Incident_Annotation" in asked and "documentbody" not in asked
    assert case == {
        "incidentid": ID,
        "Incident_Annotation": [{"annotationid": "a1"}, {"annotationid": "a2"}],
    }
