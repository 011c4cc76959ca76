"""Sync against an FL server with only the published contract: capped searches, no modification
filter. Changes made in the CRM are all picked up; what cannot be proven read fails loudly."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli.main import app
from connector.lagan.search import SearchCapExceeded
from mappings import load_profile
from portal_extensions.casework.status import PortalHealth, collect_status
from portal_extensions.jobs.sync import Syncer
from portal_extensions.store import Store, count_cases
from portal_extensions.store.schema import cases, sync_state
from tests.connector.lagan_helpers import create_payload, member_case
from tests.store.sandbox_helpers import lagan_client

LAGAN = load_profile("lagan")


def _syncer(store: Store, handle: object) -> Syncer:
    return Syncer(store, lagan_client(handle), LAGAN, batch_size=100)


def _row(store: Store, reference: str) -> Any:
    with store.read() as conn:
        return conn.execute(
            sa.select(cases.c.status, cases.c.title, cases.c.removed_at).where(
                cases.c.crm_reference == reference
            )
        ).one()


@pytest.mark.sandbox_crm(cases=300, seed=41)
def test_incremental_sync_picks_up_all_50_changes_made_in_the_crm(
    store: Store, sandbox_crm
) -> None:
    syncer = _syncer(store, sandbox_crm)
    first = syncer.run()
    assert first.fetched == 300
    crm = sandbox_crm.store
    open_refs = sorted(ref for ref, c in crm.cases.items() if c["status"] != "closed")
    closed_refs = sorted(ref for ref, c in crm.cases.items() if c["status"] == "closed")
    retitled, to_close, to_delete = open_refs[:30], open_refs[30:38], open_refs[38:42]
    to_reopen = closed_refs[:4]
    for ref in retitled:
        crm.update_case(ref, {"title": f"Changed in the CRM {ref}"})
    for ref in to_close:
        crm.close_case(ref, "resolved", None)
    with crm.lock:
        for ref in to_delete:
            crm.cases.pop(ref)
    for ref in to_reopen:
        crm.reopen_case(ref, "resident called back")
    # New enquiries made in the CRM by others (through the FL API, as the profile writes them).
    writer = lagan_client(sandbox_crm)
    new = [
        writer.create_case(
            create_payload(member_case(sandbox_crm, f"New in the CRM {n}", party=n)),
            str(uuid.uuid4()),
        ).reference
        for n in range(4)
    ]
    changes = len(retitled) + len(to_close) + len(to_delete) + len(to_reopen) + len(new)
    assert changes == 50

    second = syncer.run()
    for ref in retitled:
        assert _row(store, ref).title == f"Changed in the CRM {ref}"
    for ref in to_close:
        assert _row(store, ref).status == "closed"
    for ref in to_delete:
        assert _row(store, ref).removed_at is not None
    for ref in to_reopen:
        assert _row(store, ref).status == "reopened"
    for ref in new:
        assert _row(store, ref).title.startswith("New in the CRM")
    assert second.rechecked == len(to_close) + len(to_delete)
    assert second.removed == len(to_delete)
    with store.read() as conn:
        assert count_cases(conn) == 300 - len(to_delete) + len(new)


@pytest.mark.sandbox_crm(cases=80, seed=42)
def test_a_sync_that_cannot_prove_a_window_fails_loudly_and_keeps_its_place(
    store: Store, sandbox_crm
) -> None:
    sandbox_crm.set_lagan(search_cap=4)
    syncer = _syncer(store, sandbox_crm)
    syncer.run()
    with store.read() as conn:
        kept = conn.execute(sa.select(sync_state.c.watermark)).scalar()
        assert count_cases(conn) == 80
    party = sandbox_crm.store.find("parties")[0]["ref"]
    second = "2030-06-01T08:00:00Z"
    for n in range(6):  # more cases in one second than the server returns for one search
        sandbox_crm.store.add_case(
            {
                "status": "open",
                "title": f"Bulk import {n}",
                "category": 101,
                "party": party,
                "form": {},
                "opened": second,
            },
            event=None,
        )
    later = Syncer(
        store,
        lagan_client(sandbox_crm),
        LAGAN,
        batch_size=100,
        clock=lambda: datetime(2031, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(SearchCapExceeded):
        later.run()
    with store.read() as conn:
        watermark = conn.execute(sa.select(sync_state.c.watermark)).scalar()
    assert watermark is not None and kept is not None
    assert watermark.replace(tzinfo=UTC) < datetime(2030, 6, 1, 8, tzinfo=UTC)
    report = collect_status(store)
    assert report.sync.last_error and "SearchCapExceeded" in report.sync.last_error
    assert any("sync error" in line for line in report.lines())
    checks = {c.name: c for c in PortalHealth(store)()}
    last = checks["Last sync from the CRM"]
    assert not last.ok and "one-second window" in last.detail


@pytest.mark.sandbox_crm(cases=0)
def test_caseload_sync_exits_non_zero_and_status_shows_why(
    sandbox_crm_server, tmp_path: Path, monkeypatch
) -> None:
    sandbox_crm_server.set_lagan(search_cap=3)
    party = sandbox_crm_server.store.find("parties")[0]["ref"]
    for n in range(5):  # a bulk import: more cases in one second than one search returns
        sandbox_crm_server.store.add_case(
            {
                "status": "open",
                "title": f"Imported {n}",
                "category": 101,
                "party": party,
                "form": {},
                "opened": "2024-02-01T10:00:00Z",
            },
            event=None,
        )
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[crm]\nkind = "lagan"\n'
        f'endpoint = "{sandbox_crm_server.fl_url}"\nallowed_hosts = ["127.0.0.1"]\n'
        f'username = "{sandbox_crm_server.username}"\n'
    )
    runner = CliRunner()
    synced = runner.invoke(app, ["sync", "--config", str(config)])
    assert synced.exit_code != 0
    assert "one-second window" in synced.output and "Traceback" not in synced.output
    status = runner.invoke(app, ["status", "--json", "--config", str(config)])
    assert "SearchCapExceeded" in json.loads(status.stdout)["sync"]["last_error"]
