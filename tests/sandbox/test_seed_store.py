"""The seeded council is complete and deterministic; the store counts, finds and persists."""

from __future__ import annotations

import collections
import http.server
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.sandbox.crm import SandboxCRM
from connector.sandbox.store import Store

ANCHOR = datetime(2026, 6, 1, tzinfo=UTC)


def test_seeded_council_has_every_part_the_issue_names() -> None:
    crm = SandboxCRM(seed=1, cases=2000, anchor=ANCHOR)
    d = crm.directory()
    assert len(d["wards"]) == 6 and len(d["members"]) == 18 and len(d["services"]) == 12
    per_ward = collections.Counter(m["ward_id"] for m in d["members"])
    assert set(per_ward.values()) == {3}
    assert len({m["party_id"] for m in d["members"]}) >= 3
    officers = {o["id"] for o in d["officers"]}
    for svc in d["services"]:
        assert svc["member_officer_id"] in officers and svc["response_target_working_days"] > 0
    counts = crm.store.counts()
    assert counts["parties"] == 300 and counts["cases"] == 2000
    assert counts["notes"] >= 2000
    statuses = collections.Counter(c["status"] for c in crm.store.cases.values())
    assert set(statuses) == {"draft", "open", "open-service", "responded", "closed", "reopened"}
    opened = sorted(c["opened"] for c in crm.store.cases.values())
    assert opened[0] >= "2024-06-01" and opened[-1] <= "2026-06-01T00:00:00Z"
    for party in crm.store.parties.values():
        assert party["postcode"] and party["uprn"].isdigit() and party["street"]
    case = next(iter(crm.store.cases.values()))
    assert len(case["ref"]) == 12
    assert {
        "PortalId",
        "MemberId",
        "WardId",
        "Sharing",
        "SharingColleague",
        "SharingUntil",
        "AuthorityRecordedBy",
        "AuthorityRecordedAt",
        "AuthorityScope",
        "LawfulBasis",
        "ExplicitConsent",
        "AuthorityWithdrawnAt",
        "Channel",
        "RaisedBy",
        "Priority",
        "ServiceId",
        "AcknowledgedAt",
        "NextUpdateDue",
        "TargetDate",
        "ClosureReason",
        "UPRN",
        "Postcode",
        "Address",
    } == set(case["form"])


def test_same_seed_same_council_and_different_seed_differs() -> None:
    a = SandboxCRM(seed=5, cases=300, anchor=ANCHOR).store
    b = SandboxCRM(seed=5, cases=300, anchor=ANCHOR).store
    c = SandboxCRM(seed=6, cases=300, anchor=ANCHOR).store
    assert a.cases == b.cases and a.parties == b.parties and a.notes == b.notes
    assert a.cases != c.cases


def test_members_only_get_cases_from_their_own_ward() -> None:
    crm = SandboxCRM(seed=2, cases=500, anchor=ANCHOR)
    ward_of = {m["id"]: m["ward_id"] for m in crm.directory()["members"]}
    for case in crm.store.cases.values():
        assert ward_of[case["form"]["MemberId"]] == case["form"]["WardId"]


def test_store_counts_and_finds_by_any_key() -> None:
    crm = SandboxCRM(seed=1, cases=100, anchor=ANCHOR)
    case = next(iter(crm.store.cases.values()))
    pid = case["form"]["PortalId"]
    assert crm.count_cases(PortalId=pid) == 1
    assert crm.find_cases(ref=case["ref"]) == [case]
    assert crm.count_cases(status="closed") == sum(
        1 for c in crm.store.cases.values() if c["status"] == "closed"
    )
    assert crm.count_cases(PortalId="no-such") == 0
    with pytest.raises(ValueError, match="unknown record kind"):
        crm.store.find("widgets")


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "crm.sqlite"
    first = SandboxCRM(seed=3, cases=50, db=db, anchor=ANCHOR)
    ref = first.store.new_case_ref()
    first.store.add_case({"ref": ref, "category": 101, "form": {"PortalId": "p-1"}})
    first.store.add_note(0, ref, "kept")
    first.store.close()
    second = SandboxCRM(seed=99, cases=10, db=db)
    assert second.store.counts()["cases"] == 51
    assert second.count_cases(PortalId="p-1") == 1
    assert second.directory()["council"]
    assert second.store.new_case_ref() == f"{int(ref) + 1:012d}"
    second.store.close()


def test_push_posts_lagan_case_events_when_a_case_closes() -> None:
    received: list[bytes] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        crm = SandboxCRM(
            seed=1,
            cases=20,
            anchor=ANCHOR,
            push_url=f"http://127.0.0.1:{server.server_address[1]}/events",
        )
        ref = next(c["ref"] for c in crm.store.cases.values() if c["status"] != "closed")
        crm.store.close_case(ref, "resolved", None)
        assert crm.push is not None
        crm.push.flush()
        crm.stop()
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    assert b"PopulatedCloseCaseEvent" in received[0] and ref.encode() in received[0]
    assert b"http://www.kana.com/lagan/schemas/casemanagement" in received[0]


def test_store_is_safe_under_concurrent_writes() -> None:
    store = Store()
    SandboxCRM  # noqa: B018 - imported for the seeded path elsewhere
    refs: list[str] = []

    def worker() -> None:
        for _ in range(200):
            refs.append(store.add_case({"category": 101})["ref"])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(refs)) == 800 == store.count("cases")
