"""Fault injection: validated spec, reproducible with a seed, logged, and realistic on the wire."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from zeep.exceptions import Fault, TransportError

from connector.sandbox.crm import SandboxHandle
from connector.sandbox.faults import FaultPlan, FaultSpecError
from tests.sandbox.helpers import fl_client


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("createCase", "needs 'operation:setting=value"),
        ("createCase:lose_respons=0.3", "unknown setting 'lose_respons'"),
        ("createCase:503=1.5", "outside 0..1"),
        ("createCase:503=0.6,500=0.6", "add up to 1.20"),
        ("*:latency=fast", "not a duration"),
        ("*:rate=10", "must look like 100/60s"),
        ("*:retry_after_form=never", "'seconds' or 'date'"),
    ],
)
def test_invalid_specs_are_rejected_with_a_clear_message(spec: str, fragment: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        FaultPlan.parse(spec)
    assert fragment in str(info.value)


def _decisions(seed: int) -> list[str | None]:
    plan = FaultPlan.parse("createCase:lose_response=0.3,503=0.2;*:latency=1ms", seed=seed)
    return [plan.decide("createCase").fault for _ in range(200)]


def test_the_same_seed_gives_the_same_faults_and_another_seed_differs() -> None:
    first = _decisions(7)
    assert first == _decisions(7)
    assert first != _decisions(8)
    rate = first.count("lose_response") / len(first)
    assert 0.2 < rate < 0.4 and 0.1 < first.count("503") / len(first) < 0.3


def test_later_rules_override_and_every_fault_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    plan = FaultPlan.parse("*:503=1;createCase:503=0", seed=1)
    with caplog.at_level("INFO", logger="caseload.sandbox.faults"):
        assert plan.decide("createCase").fault is None
        assert plan.decide("updateCase").fault == "503"
    assert [(e.operation, e.fault) for e in plan.events] == [("updateCase", "503")]
    assert [r.getMessage() for r in caplog.records] == [
        "sandbox fault: updateCase call 1 -> 503 (injected)"
    ]


def _create(client, pid: str) -> str:
    return str(
        client.service.createCase(
            ClassificationEventCode=101,
            Title="t",
            Form={"FormField": [{"Key": "PortalId", "Value": pid}]},
        )
    )


@pytest.mark.sandbox_crm(faults="createCase:lose_response=1")
@pytest.mark.parametrize("fixture", ["sandbox_crm", "sandbox_crm_server"])
def test_commit_then_lose_the_response_really_commits(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    crm: SandboxHandle = request.getfixturevalue(fixture)
    client = fl_client(crm, "wsse")
    pid = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError):
        _create(client, pid)
    assert crm.count_cases(PortalId=pid) == 1
    assert [e.fault for e in crm.faults.events] == ["lose_response"]


@pytest.mark.sandbox_crm(faults="createCase:reset=1")
def test_connection_reset_on_the_real_server(sandbox_crm_server: SandboxHandle) -> None:
    client = fl_client(sandbox_crm_server, "wsse")
    pid = str(uuid.uuid4())
    with pytest.raises(requests.ConnectionError):
        _create(client, pid)
    assert sandbox_crm_server.count_cases(PortalId=pid) == 0


@pytest.mark.sandbox_crm(faults="retrieveCodeBook:blackhole=1")
def test_black_hole_never_answers_so_the_client_times_out(
    sandbox_crm_server: SandboxHandle,
) -> None:
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            sandbox_crm_server.fl_url,
            data=_codebook_envelope(sandbox_crm_server),
            headers={"Content-Type": "text/xml"},
            timeout=0.5,
        )
    assert time.monotonic() - started < 3


@pytest.mark.sandbox_crm(faults="retrieveCodeBook:drip=1,drip_bps=8000")
def test_slow_drip_delivers_the_whole_answer_slowly(sandbox_crm_server: SandboxHandle) -> None:
    started = time.monotonic()
    r = requests.post(
        sandbox_crm_server.fl_url,
        data=_codebook_envelope(sandbox_crm_server),
        headers={"Content-Type": "text/xml"},
        timeout=10,
    )
    elapsed = time.monotonic() - started
    assert r.status_code == 200 and "CodeBookName" in r.text
    assert elapsed >= len(r.content) / 8000 * 0.8


@pytest.mark.sandbox_crm(faults="retrieveCodeBook:blackhole=1")
def test_in_process_black_hole_is_a_read_timeout(sandbox_crm: SandboxHandle) -> None:
    with pytest.raises(requests.ReadTimeout):
        requests.post(sandbox_crm.fl_url, data=_codebook_envelope(sandbox_crm), timeout=1)


def _codebook_envelope(crm: SandboxHandle) -> bytes:
    from tests.sandbox.helpers import envelope, wsse_header

    return envelope(
        "<fl:CodeBookName>CaseCategory</fl:CodeBookName>", wsse_header(crm.username, crm.password)
    )


@pytest.mark.sandbox_crm(faults="retrieveCodeBook:soap_fault=1;searchForCases:503=1")
def test_soap_faults_and_http_errors(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "wsse")
    with pytest.raises(Fault) as info:
        client.service.retrieveCodeBook("CaseCategory")
    assert info.value.detail.find(".//ErrorCode").text == "1500"
    with pytest.raises((Fault, TransportError)):
        client.service.searchForCases(ResultsLimit=1)


@pytest.mark.sandbox_crm(faults="*:latency=40ms,jitter=20ms")
def test_latency_and_jitter_delay_every_call(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "wsse")
    started = time.monotonic()
    client.service.retrieveCodeBook("CaseCategory")
    assert time.monotonic() - started >= 0.04


@pytest.mark.parametrize(
    "sandbox_crm", [{"auth_style": "token", "faults": "*:session_expiry=2"}], indirect=True
)
def test_session_expires_after_n_calls(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "token")
    client.service.retrieveCodeBook("CaseCategory")
    client.service.retrieveCodeBook("CaseCategory")
    with pytest.raises(Fault) as info:
        client.service.retrieveCodeBook("CaseCategory")
    assert info.value.detail.find(".//ErrorCode").text == "1002"
    assert "session_expiry" in [e.fault for e in sandbox_crm.faults.events]
    fl_client(sandbox_crm, "token").service.retrieveCodeBook("CaseCategory")


def test_same_seed_same_faults_end_to_end(sandbox_crm: SandboxHandle) -> None:
    client = fl_client(sandbox_crm, "wsse")

    def run() -> list[str]:
        sandbox_crm.set_faults("retrieveCodeBook:503=0.3,soap_fault=0.2", seed=11)
        outcome = []
        for _ in range(30):
            try:
                client.service.retrieveCodeBook("CaseCategory")
                outcome.append("ok")
            except Fault as exc:
                outcome.append(exc.message)
            except TransportError as exc:
                outcome.append(str(exc.status_code))
        return outcome

    first = run()
    assert first == run() and len(set(first)) > 1


def test_concurrent_creates_over_http_are_each_stored_once(
    sandbox_crm_server: SandboxHandle,
) -> None:
    import concurrent.futures

    before = sandbox_crm_server.count_cases()
    pids = [str(uuid.uuid4()) for _ in range(40)]

    clients = [fl_client(sandbox_crm_server, "wsse") for _ in range(4)]

    def create(pid: str) -> str:
        return _create(clients[pids.index(pid) % 4], pid)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        refs = list(pool.map(create, pids))
    assert len(set(refs)) == 40
    assert sandbox_crm_server.count_cases() == before + 40
    assert all(sandbox_crm_server.count_cases(PortalId=pid) == 1 for pid in pids)
