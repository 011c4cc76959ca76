"""The connector against the sandbox CRM (in-process and on a loopback server), with faults."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.dataverse import DataverseClient
from connector.dataverse.client import customer_contact_id
from connector.errors import CRMError
from connector.lagan import LaganClient
from connector.lagan.search import EPOCH
from connector.resilience import CRMCircuitOpen
from connector.settings import CRMSettings
from tests.connector.conftest import fast_resilience
from tests.connector.dataverse_cases import a_contact
from tests.connector.dataverse_cases import create_payload as dataverse_payload
from tests.connector.lagan_helpers import create_payload, member_case

WRITES = 1000
FAULTS = (
    "createCase:lose_response=0.3;"
    "*:503=0.05,429=0.05,retry_after=0,reset=0.05;"
    "incidents.PATCH:lose_response=0.3"
)


def _no_dns(host: str) -> list[str]:
    """crm.sandbox.test is served in-process; these machines have no DNS to ask."""
    return []


def _lagan(handle: Any, mode: str = "username_token", **extra: Any) -> LaganClient:
    host = handle.base_url.split("://", 1)[1].split(":")[0].split("/")[0]
    settings = CRMSettings(
        endpoint=handle.fl_url,
        auth_endpoint=handle.flauth_url,
        allowed_hosts=[host],
        username=handle.username,
        password=handle.password,
        auth_mode=mode,
        **extra,
    )
    return LaganClient(settings, resilience=fast_resilience("lagan", attempts=12), resolver=_no_dns)


def _dataverse(handle: Any) -> DataverseClient:
    host = handle.base_url.split("://", 1)[1].split(":")[0].split("/")[0]
    settings = CRMSettings(
        kind="dynamics365",
        endpoint=handle.dataverse_url,
        token_url=handle.token_url,
        allowed_hosts=[host],
        client_id=handle.client_id,
        client_secret=handle.client_secret,
        auth_mode="oauth2",
    )
    return DataverseClient(
        settings, resilience=fast_resilience("dynamics365", attempts=12), resolver=_no_dns
    )


def _deliver(create: Any, key: str) -> Any:
    """What the outbox does: keep delivering the same key until the CRM confirms it."""
    for _ in range(50):
        try:
            return create(key)
        except CRMCircuitOpen:
            time.sleep(0.06)
        except CRMError as exc:
            if not exc.retryable:
                raise
    raise AssertionError(f"write {key} never confirmed")


@pytest.mark.sandbox_crm(cases=20, seed=3)
def test_lagan_thousand_writes_under_faults_lose_nothing_and_duplicate_nothing(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    plan = sandbox_crm.set_faults(FAULTS, seed=11)
    keys = [str(uuid.uuid4()) for _ in range(WRITES)]
    # What the outbox sends: the profile's output for each new enquiry, for many residents.
    payloads = {
        key: create_payload(member_case(sandbox_crm, f"Fault run {n}", party=n % 250))
        for n, key in enumerate(keys)
    }
    refs = {
        key: _deliver(lambda k: client.create_case(payloads[k], k), key).reference for key in keys
    }
    sandbox_crm.set_faults(None)
    counts = [sandbox_crm.count_cases(PortalId=key) for key in keys]
    assert counts.count(0) == 0, "lost writes"
    assert max(counts) == 1, "duplicated writes"
    assert len(set(refs.values())) == WRITES
    injected = Counter(event.fault for event in plan.events)
    assert injected["lose_response"] >= 200  # about 30% of the creates
    assert injected["reset"] >= 50
    assert injected["503"] + injected["429"] >= 100


@pytest.mark.sandbox_crm(cases=20, seed=4)
def test_dataverse_writes_under_faults_lose_nothing_and_duplicate_nothing(sandbox_crm) -> None:
    client = _dataverse(sandbox_crm)
    sandbox_crm.set_faults(FAULTS, seed=12)
    keys = [str(uuid.uuid4()) for _ in range(300)]
    contact = a_contact(sandbox_crm)
    for n, key in enumerate(keys):  # every other case is for a new resident
        payload = dataverse_payload(contact if n % 2 else None, title="Fault run")
        _deliver(lambda k, payload=payload: client.create_case(payload, k), key)
    sandbox_crm.set_faults(None)
    counts = [sandbox_crm.count_cases(PortalId=key) for key in keys]
    assert counts.count(0) == 0 and max(counts) == 1
    store = sandbox_crm.store
    for n, key in enumerate(keys):
        (case,) = sandbox_crm.find_cases(PortalId=key)
        party = store.party(case["party"])
        if n % 2:
            assert party["contactid"] == contact
        else:  # the new resident's contact, made exactly once with the case
            assert party["contactid"] == customer_contact_id(key)
            assert (party["forename"], party["surname"]) == ("Ada", "Lovelace")
    residents = [p for p in store.parties.values() if p["surname"] == "Lovelace"]
    assert len(residents) == len(keys) // 2


@pytest.mark.sandbox_crm(cases=10)
def test_session_expiry_causes_exactly_one_reauthentication(sandbox_crm) -> None:
    client = _lagan(sandbox_crm, mode="flauth")
    refs = [
        c["CoreDetails"]["CaseReference"]
        for page in client.iter_changed_cases(datetime(2025, 1, 1, tzinfo=UTC), page_size=100)
        for c in page
    ]
    assert client.auth.authentications == 1
    # The token in use has served more than 5 calls: its next use is refused as expired.
    sandbox_crm.set_faults("*:session_expiry=5")
    for ref in refs[:4]:
        assert client.get_case(ref)["CoreDetails"]["CaseReference"] == ref
    assert client.auth.authentications == 2


@pytest.mark.sandbox_crm(cases=10)
def test_concurrent_workers_renew_an_expired_token_once(sandbox_crm) -> None:
    client = _lagan(sandbox_crm, mode="flauth")
    ref = next(iter(client.iter_changed_cases(datetime(2000, 1, 1, tzinfo=UTC))))[0]
    assert client.auth.authentications == 1
    sandbox_crm.crm.app.expire_sessions()
    case_ref = ref["CoreDetails"]["CaseReference"]
    with ThreadPoolExecutor(8) as pool:
        cases = list(pool.map(lambda _: client.get_case(case_ref), range(16)))
    assert all(c == cases[0] for c in cases)
    assert client.auth.authentications == 2


@pytest.mark.sandbox_crm(cases=150, seed=5)
def test_bulk_read_streams_every_case_once_in_pages(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    seen: list[str] = []
    for page in client.iter_changed_cases(EPOCH, page_size=40):
        assert 0 < len(page) <= 40
        seen += [c["CoreDetails"]["CaseReference"] for c in page]
    assert len(seen) == len(set(seen)) == 150


@pytest.mark.sandbox_crm(cases=30, seed=6)
def test_streaming_and_zeep_paths_agree_on_sandbox_cases(sandbox_crm) -> None:
    client = _lagan(sandbox_crm)
    page = next(iter(client.iter_changed_cases(datetime(2000, 1, 1, tzinfo=UTC))))
    for case in page[:10]:
        ref = case["CoreDetails"]["CaseReference"]
        assert client.get_case(ref) == client.get_case_via_zeep(ref) == case


@pytest.mark.sandbox_crm(cases=120, seed=7)
def test_dataverse_pages_follow_next_link(sandbox_crm) -> None:
    client = _dataverse(sandbox_crm)
    pages = list(client.iter_changed_cases(datetime(2000, 1, 1, tzinfo=UTC), page_size=50))
    assert [len(p) for p in pages] == [50, 50, 20]
    assert not any(k.startswith("@odata") for p in pages for c in p for k in c)


@pytest.mark.sandbox_crm(cases=10)
def test_lagan_over_a_real_loopback_server(sandbox_crm_server) -> None:
    client = _lagan(sandbox_crm_server, mode="basic")
    ref = client.create_case({"ClassificationEventCode": 102, "Title": "Bins"}, str(uuid.uuid4()))
    client.add_note(ref.reference, "Collected.", idempotency_key=str(uuid.uuid4()))
    client.close_case(ref.reference, "resolved")
    client.close_case(ref.reference, "resolved")  # a replayed close is harmless
    assert client.get_case(ref.reference)["CoreDetails"]["Status"] == "closed"
    assert {c["CodeKey"] for c in client.code_book()} >= {"roads", "waste"}


@pytest.mark.sandbox_crm(cases=400, seed=8)
def test_bulk_read_windows_meet_on_whole_seconds(sandbox_crm) -> None:
    sandbox_crm.set_lagan(build="later")  # one pass, by modification time
    client = _lagan(sandbox_crm)
    windows: list[tuple[datetime, datetime]] = []
    original = client._search

    def record(criteria: dict[str, Any], asked: int, **kwargs: Any) -> list[Any]:
        if "LastModifiedDateTo" in criteria:
            windows.append((criteria["LastModifiedDateFrom"], criteria["LastModifiedDateTo"]))
        return original(criteria, asked, **kwargs)

    client._search = record  # type: ignore[method-assign]
    since = datetime(2020, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    until = datetime(2031, 1, 1, tzinfo=UTC)
    refs = [
        c["CoreDetails"]["CaseReference"]
        for page in client.iter_changed_cases(since, until, page_size=30)
        for c in page
    ]
    assert client.modified_filter is True
    assert len(refs) == len(set(refs)) > 0
    # Inclusive FL bounds: each window asks up to a microsecond before a whole second.
    assert all((last + timedelta(microseconds=1)).microsecond == 0 for _, last in windows)


@pytest.mark.sandbox_crm(cases=5)
def test_parties_search_get_and_create_on_both_crms(sandbox_crm) -> None:
    party = sandbox_crm.store.find("parties")[0]
    lagan = _lagan(sandbox_crm)
    found = lagan.search_parties(name=party["surname"], postcode=party["postcode"])
    assert [p["ObjectID"]["ObjectReference"] for p in found] == [party["ref"]]
    assert lagan.get_party(party["ref"])["Name"][0]["Surname"] == party["surname"]
    made = lagan.create_party(
        {"Name": [{"Forename": "Ann", "Surname": "Other", "Preferred": True}]}
    )
    assert made.kind == "C1" and lagan.get_party(made.reference)["Name"][0]["Forename"] == "Ann"

    dataverse = _dataverse(sandbox_crm)
    contacts = dataverse.search_parties(postcode=party["postcode"])
    assert party["contactid"] in {c["contactid"] for c in contacts}
    assert dataverse.get_party(party["contactid"])["lastname"] == party["surname"]
    contact = dataverse.create_party({"firstname": "Ann", "lastname": "Other"})
    assert dataverse.get_party(contact.reference)["firstname"] == "Ann"


@pytest.mark.sandbox_crm(cases=5)
def test_dataverse_notes_with_attachments_round_trip(sandbox_crm) -> None:
    from connector.base import Attachment

    client = _dataverse(sandbox_crm)
    ref = client.create_case(dataverse_payload(a_contact(sandbox_crm)), str(uuid.uuid4())).reference
    client.add_note(
        ref,
        "Letter attached.",
        [Attachment(name="a.txt", content=b"hello")],
        idempotency_key=str(uuid.uuid4()),
    )
    notes = [n for n in sandbox_crm.store.notes.values() if n["attachment"]]
    assert len(notes) == 1
    fetched = client.get_attachment(notes[0]["annotationid"])
    assert (fetched.name, fetched.content) == ("a.txt", b"hello")


@pytest.mark.sandbox_crm(cases=5)
def test_lagan_notes_with_attachments_round_trip(sandbox_crm) -> None:
    from connector.base import Attachment

    client = _lagan(sandbox_crm)
    ref = client.create_case({"ClassificationEventCode": 103, "Title": "Damp"}, str(uuid.uuid4()))
    client.add_note(
        ref.reference,
        "Photo attached.",
        [Attachment(name="p.txt", content=b"damp")],
        idempotency_key=str(uuid.uuid4()),
    )
    client.add_note(ref.reference, "Plain note.", idempotency_key=str(uuid.uuid4()))
    notes = client.get_case(ref.reference)["Notes"]["Note"]
    assert {"Photo attached.", "Plain note."} <= {n["Text"] for n in notes}
    documents = list(sandbox_crm.store.documents)
    fetched = client.get_attachment(documents[-1])
    assert fetched.content == b"damp"


@pytest.mark.sandbox_crm(cases=60, seed=5)
def test_dataverse_case_reads_carry_the_customer_the_mapping_needs(sandbox_crm) -> None:
    from mappings import load_profile

    client = _dataverse(sandbox_crm)
    profile = load_profile("dynamics365")
    cases = [
        c for page in client.iter_changed_cases(datetime(2000, 1, 1, tzinfo=UTC)) for c in page
    ]
    assert len(cases) == 60
    for raw in cases:
        assert raw["customerid_contact"]["lastname"]
        assert not any(key.startswith("@odata") for key in raw["customerid_contact"])
        mapped = profile.to_caseload(raw)
        assert mapped.constituent.surname == raw["customerid_contact"]["lastname"]
    one = client.get_case(cases[0]["incidentid"])
    by_ticket = client.get_case(cases[0]["ticketnumber"])
    assert one == by_ticket == cases[0]
