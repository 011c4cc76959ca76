"""`caseload serve` runs the background worker (sync, outbox, pushed case events) beside the
portal, unless told another process (`caseload worker`) does it."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from cli import portal_cmd
from portal_extensions.web.routes.crm_events import EVENTS_PATH, SIGNATURE_HEADER, signature
from tests.portal.web_fixtures import SECRET

EVENTS_SECRET = "e" * 24
WORKER_THREAD = "caseload-worker"


def _cli() -> typer.Typer:
    app = typer.Typer()
    portal_cmd.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `serve` a named subcommand
        """Nothing."""

    return app


def _config(tmp_path: Path, server) -> Path:
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n'
        '[portal]\ncouncil_name = "Fenmarsh"\nhttps = false\n\n'
        f'[crm]\nkind = "lagan"\nendpoint = "{server.fl_url}"\n'
        f'allowed_hosts = ["127.0.0.1"]\nusername = "{server.username}"\n\n'
        "[worker]\nsync_interval_seconds = 3600\ndispatch_interval_seconds = 0.5\n",
        encoding="utf-8",
    )
    return config


@pytest.mark.sandbox_crm(cases=5)
@pytest.mark.parametrize(("flag", "working"), [([], True), (["--no-worker"], False)])
def test_serve_runs_the_worker_beside_the_portal(
    sandbox_crm_server, tmp_path: Path, monkeypatch, flag: list[str], working: bool
) -> None:
    config = _config(tmp_path, sandbox_crm_server)
    monkeypatch.setenv("CASELOAD_PORTAL_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    seen: dict[str, object] = {}

    def fake_run(app, **options) -> None:
        seen["worker"] = any(t.name == WORKER_THREAD for t in threading.enumerate())
        seen["access_log"] = options["access_log"]
        seen["log_config"] = options["log_config"]

    monkeypatch.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(_cli(), ["serve", "--config", str(config), *flag])
    assert result.exit_code == 0, result.output
    assert seen["worker"] is working
    assert seen["access_log"] is False  # request lines can carry residents' names
    assert seen["log_config"] is None  # uvicorn logs through Caseload's logging
    assert not any(t.name == WORKER_THREAD for t in threading.enumerate())


@pytest.mark.sandbox_crm(cases=5)
@pytest.mark.parametrize(("flag", "status"), [([], 202), (["--no-worker"], 202)])
def test_pushed_case_events_are_taken_with_or_without_a_worker_in_the_process(
    sandbox_crm_server, tmp_path: Path, monkeypatch, flag: list[str], status: int
) -> None:
    config = _config(tmp_path, sandbox_crm_server)
    monkeypatch.setenv("CASELOAD_PORTAL_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    monkeypatch.setenv("CASELOAD_EVENTS_SECRET", EVENTS_SECRET)
    body = (
        b'<PopulatedUpdateCaseEvent xmlns="http://www.kana.com/lagan/schemas/casemanagement">'
        b"<CaseReference>101000000001</CaseReference></PopulatedUpdateCaseEvent>"
    )
    answers: list[int] = []

    def fake_run(app, **options) -> None:
        with TestClient(app) as client:
            answer = client.post(
                EVENTS_PATH,
                content=body,
                headers={
                    SIGNATURE_HEADER: signature(EVENTS_SECRET, body),
                    "Content-Type": "application/xml",
                },
            )
        answers.append(answer.status_code)

    monkeypatch.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(_cli(), ["serve", "--config", str(config), *flag])
    assert result.exit_code == 0, result.output
    assert answers == [status]
