"""`caseload sync` against the sandbox's Dataverse front: cases that could not be mapped make the
run fail loudly (non-zero exit, the count on standard error) and show on Health, while every case
that maps (account customers and social-media origins included) is indexed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import store_cmd
from portal_extensions.casework.status import PortalHealth
from portal_extensions.store import Store

#: Seeded cases last changed well before any sync of the test (not in its own second).
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_show_locals=False)
    store_cmd.register(app)
    return app


@pytest.mark.sandbox_crm(cases=30, seed=45, anchor=ANCHOR)
def test_sync_exits_non_zero_and_health_shows_the_cases_that_could_not_be_mapped(
    sandbox_crm_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = sandbox_crm_server.store
    refs = sorted(crm.cases)
    society = crm.add_party({"type": "C2", "name": "Fenmarsh Allotment Society"})
    crm.cases[refs[0]]["party"] = society["ref"]
    crm.cases[refs[1]]["form"]["Channel"] = "Facebook"
    crm.cases[refs[2]]["form"]["Channel"] = ""  # no origin: not mapped, and said so
    crm.cases[refs[3]]["form"]["Channel"] = ""
    monkeypatch.setenv("CASELOAD_CRM_CLIENT_SECRET", sandbox_crm_server.client_secret)
    monkeypatch.delenv("CASELOAD_DATABASE_URL", raising=False)
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "[crm]\n"
        'kind = "dynamics365"\n'
        f'endpoint = "{sandbox_crm_server.dataverse_url}"\n'
        f'token_url = "{sandbox_crm_server.token_url}"\n'
        f'client_id = "{sandbox_crm_server.client_id}"\n'
        'allowed_hosts = ["127.0.0.1"]\n'
    )
    runner = CliRunner()
    synced = runner.invoke(_app(), ["sync", "--config", str(config)])
    assert synced.exit_code == 1, synced.output
    assert synced.stdout.startswith("synced 30 cases in ")
    assert "2 could not be mapped" in synced.stdout
    assert "2 CRM cases could not be mapped and are not in the index" in synced.stderr
    status = runner.invoke(_app(), ["status", "--json", "--config", str(config)])
    report = json.loads(status.stdout)
    assert report["index_size"] == 28 and report["sync"]["open_problems"] == 2

    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    checks = {c.name: c for c in PortalHealth(store, sync_interval=timedelta(minutes=5))()}
    store.close()
    unread = checks["CRM cases that could not be read"]
    assert not unread.ok and unread.detail.startswith("2 ")

    crm.cases[refs[2]]["form"]["Channel"] = "Phone"  # fixed in the CRM (or the profile)
    crm.cases[refs[3]]["form"]["Channel"] = "Email"
    again = runner.invoke(_app(), ["sync", "--full", "--config", str(config)])
    assert again.exit_code == 0, again.output
    report = json.loads(runner.invoke(_app(), ["status", "--json", "--config", str(config)]).stdout)
    assert report["index_size"] == 30 and report["sync"]["open_problems"] == 0
