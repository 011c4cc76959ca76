"""Dataverse case reads carry the case's annotations, read the documented way."""

from __future__ import annotations

import json

import responses

from tests.connector.conftest import DV_BASE, DV_TOKEN, dv_discovery

ID = "11111111-2222-3333-4444-555555555555"


def _token(rsps: responses.RequestsMock) -> None:
    dv_discovery(rsps)
    rsps.add(
        "POST", DV_TOKEN, body=json.dumps({"access_token": "t", "expires_in": 3600}), status=200
    )


def test_a_case_read_expands_annotations_fresh_and_never_follows_their_next_link(
    make_dataverse,
) -> None:
    """Microsoft documents that a nested `<collection>@odata.nextLink` gives back the rows
    already expanded: following it doubled every case's notes and cost a request per case."""
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
        case = client.get_case(ID)
        read = rsps.calls[2].request
        assert len(rsps.calls) == 3  # discovery, token, the case: nothing follows the link
    asked = str(read.url)
    assert "Incident_Annotation" in asked and "documentbody" not in asked
    assert read.headers["If-None-Match"] == "null"  # expanded collections may be cached
    assert case == {"incidentid": ID, "Incident_Annotation": [{"annotationid": "a1"}]}
