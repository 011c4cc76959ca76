"""End to end: every seeded sandbox case maps through the bundled profiles without an error.

The `dynamics365` profile reads the constituent from the expanded customer (contact or account)
and the close time and reason from the expanded completed case resolution, so the raw records
the REST front serves for the connector's default `$expand` must carry both. The Lagan half
reads the same cases through the real connector (`searchAndRetrieveCaseDetails` /
`retrieveCaseDetails` parsed into raw dicts) and maps them with the `lagan` profile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests

import mappings
from connector.lagan import LaganClient
from connector.lagan.search import EPOCH
from connector.sandbox.crm import SandboxHandle
from connector.settings import CRMSettings

EXPAND = CRMSettings.model_fields["case_expand"].default


def _strip_annotations(value: Any) -> Any:
    """Drop `@odata.*` keys at every level, as docs/raw-records.md defines the raw shape."""
    if isinstance(value, dict):
        return {k: _strip_annotations(v) for k, v in value.items() if not k.startswith("@odata.")}
    if isinstance(value, list):
        return [_strip_annotations(v) for v in value]
    return value


def _incidents(crm: SandboxHandle) -> list[dict[str, Any]]:
    token = requests.post(
        crm.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": crm.client_id,
            "client_secret": crm.client_secret,
            "scope": "https://crm/.default",
        },
        timeout=5,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=80"}
    url: str | None = f"{crm.dataverse_url}incidents?$expand={EXPAND}"
    rows: list[dict[str, Any]] = []
    while url:
        r = requests.get(url, headers=headers, timeout=10)
        assert r.status_code == 200, r.text
        rows += [_strip_annotations(row) for row in r.json()["value"]]
        url = r.json().get("@odata.nextLink")
    return rows


def test_every_seeded_incident_maps_through_the_dynamics365_profile(
    sandbox_crm: SandboxHandle,
) -> None:
    profile = mappings.load_profile("dynamics365")
    rows = _incidents(sandbox_crm)
    assert len(rows) == sandbox_crm.count_cases() == 200
    closed = 0
    for row in rows:
        case = profile.to_caseload(row)
        stored = sandbox_crm.store.case_by_incident(row["incidentid"])
        party = sandbox_crm.store.party(stored["party"])
        assert case.constituent.surname == party["surname"]
        assert (case.crm_reference, case.crm_number) == (row["incidentid"], row["ticketnumber"])
        if stored["status"] == "closed":
            closed += 1
            assert case.closed_at == datetime.fromisoformat(stored["closed"])
            assert case.closure_reason == stored["form"]["ClosureReason"]
        else:
            assert case.closed_at is None
    assert closed > 0


def _lagan(crm: SandboxHandle) -> LaganClient:
    host = crm.base_url.split("://", 1)[1].split(":")[0].split("/")[0]
    settings = CRMSettings(
        endpoint=crm.fl_url,
        auth_endpoint=crm.flauth_url,
        allowed_hosts=[host],
        username=crm.username,
        password=crm.password,
        auth_mode="username_token",
    )
    # crm.sandbox.test is served in-process; there is no DNS to ask about it.
    return LaganClient(settings, resolver=lambda _host: [])


def test_every_seeded_lagan_case_maps_through_the_lagan_profile(
    sandbox_crm: SandboxHandle,
) -> None:
    profile = mappings.load_profile("lagan")
    client = _lagan(sandbox_crm)
    try:
        raws = [raw for page in client.iter_changed_cases(EPOCH, page_size=100) for raw in page]
        assert len(raws) == sandbox_crm.count_cases() == 200
        refs = {raw["CoreDetails"]["CaseReference"] for raw in raws}
        assert len(refs) == 200
        cases = [profile.to_caseload(raw) for raw in raws]
        single = next(raw for raw in raws if raw["CoreDetails"]["Status"] == "closed")
        ref = single["CoreDetails"]["CaseReference"]
        assert client.get_case(ref) == single
        by_ref = {c.crm_reference: c for c in cases}
        assert by_ref[ref].closed_at == datetime.fromisoformat(single["CoreDetails"]["Closed"])
    finally:
        client.close()


def test_the_dynamics365_profile_reads_each_incidents_modified_time(
    sandbox_crm: SandboxHandle,
) -> None:
    """`Mapping.modified_at` is what moves sync's watermark: Dataverse's `modifiedon`."""
    profile = mappings.load_profile("dynamics365")
    rows = _incidents(sandbox_crm)
    assert rows
    for row in rows:
        modified = profile.modified_at(row)
        stored = sandbox_crm.store.case_by_incident(row["incidentid"])["modified"]
        assert modified is not None and modified.tzinfo is not None
        assert modified == datetime.fromisoformat(stored.replace("Z", "+00:00"))
    assert profile.modified_at({**rows[0], "modifiedon": "not a time"}) is None


def test_the_lagan_profile_finds_no_modified_time_on_lagan_cases(
    sandbox_crm: SandboxHandle,
) -> None:
    """FL cases carry none (docs/raw-records.md): sync keeps its place by `complete_until`."""
    profile = mappings.load_profile("lagan")
    client = _lagan(sandbox_crm)
    try:
        pages = list(client.iter_changed_cases(EPOCH, page_size=100))
    finally:
        client.close()
    raws = [raw for page in pages for raw in page]
    assert len(raws) == 200
    assert [profile.modified_at(raw) for raw in raws] == [None] * 200
    assert any(getattr(page, "complete_until", None) is not None for page in pages)
