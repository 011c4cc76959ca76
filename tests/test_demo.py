"""`caseload demo`: the embedded-defaults council starts, syncs, and every printed sign-in works."""

from __future__ import annotations

import json
import stat
import time
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from portal_extensions.config import PortalSettings
from portal_extensions.demo import Demo
from portal_extensions.runtime import build_portal
from tests.jobs.conftest import title_of
from tests.portal.conftest import sign_in

SECRET = "x" * 40


def _signed_in_page(app, username: str, password: str):
    client = TestClient(app, follow_redirects=False)
    answer = sign_in(client, username, password)
    assert answer.status_code == 303, (username, answer.status_code)
    return client.get(answer.headers["location"], follow_redirects=True).text


def test_demo_starts_syncs_and_every_sign_in_works_and_a_restart_keeps_the_data(
    tmp_path: Path,
) -> None:
    demo = Demo(tmp_path / "demo", cases=60)
    try:
        sign_ins = demo.start()
        assert demo.first_sync.startswith("synced 60 cases")
        assert {s.role for s in sign_ins} == {
            "member",
            "members_services",
            "team_leader",
            "service_officer",
            "administrator",
        }
        saved = json.loads(demo.credentials_file.read_text())
        assert [s["password"] for s in saved] == [s.password for s in sign_ins]
        assert stat.S_IMODE(demo.credentials_file.stat().st_mode) == 0o600
        assert demo.store is not None and demo.runtime is not None
        app = build_portal(
            PortalSettings(council_name=demo.council_name, secret_key=SECRET, https=False),
            demo.store,
            demo.runtime.client,
        )
        for s in sign_ins:
            assert "Sign out" in _signed_in_page(app, s.username, s.password)
    finally:
        demo.stop()

    again = Demo(tmp_path / "demo", cases=60)
    try:
        new_sign_ins = again.start()
        assert again.first_sync.startswith("synced")
        assert "new" not in again.first_sync  # nothing re-inserted: the index was kept
        assert {s.password for s in new_sign_ins}.isdisjoint({s.password for s in sign_ins})
    finally:
        again.stop()


def test_the_demo_runs_the_worker_loop_so_a_crm_change_reaches_the_index(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr("portal_extensions.demo.SYNC_INTERVAL", timedelta(milliseconds=200))
    demo = Demo(tmp_path / "demo", cases=20)
    try:
        demo.start()
        assert demo.worker is not None and demo.crm is not None and demo.store is not None
        worker = demo.worker
        assert worker.running
        # An open case: FL's published search has no modification filter, so the worker's
        # sync re-reads open cases (a closed one's changes come by the CRM's case-event push).
        crm_cases = demo.crm.store.cases
        reference = sorted(r for r, c in crm_cases.items() if c["status"] != "closed")[0]
        demo.crm.store.update_case(reference, {"title": "Changed while the demo runs"})
        deadline = time.monotonic() + 30
        while title_of(demo.store, reference) != "Changed while the demo runs":
            assert time.monotonic() < deadline, "the demo's worker did not sync the change"
            time.sleep(0.05)
    finally:
        demo.stop()
    assert not worker.running
