"""`caseload serve` sends queued writes from the same process unless told a worker does it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import portal_cmd
from tests.portal.web_fixtures import SECRET


def _cli() -> typer.Typer:
    app = typer.Typer()
    portal_cmd.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `serve` a named subcommand
        """Nothing."""

    return app


@pytest.mark.sandbox_crm(cases=5)
@pytest.mark.parametrize(("flag", "dispatching"), [([], True), (["--no-dispatch"], False)])
def test_serve_runs_the_outbox_dispatcher_beside_the_portal(
    sandbox_crm_server, tmp_path: Path, monkeypatch, flag: list[str], dispatching: bool
) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n'
        '[portal]\ncouncil_name = "Fenmarsh"\nhttps = false\n\n'
        f'[crm]\nkind = "lagan"\nendpoint = "{sandbox_crm_server.fl_url}"\n'
        f'allowed_hosts = ["127.0.0.1"]\nusername = "{sandbox_crm_server.username}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CASELOAD_PORTAL_SECRET_KEY", SECRET)
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    seen: dict[str, bool] = {}

    def fake_run(app, **options) -> None:
        seen["dispatcher"] = any(t.name == "outbox-dispatcher" for t in threading.enumerate())
        seen["access_log"] = options["access_log"]

    monkeypatch.setattr("uvicorn.run", fake_run)
    result = CliRunner().invoke(_cli(), ["serve", "--config", str(config), *flag])
    assert result.exit_code == 0, result.output
    assert seen["dispatcher"] is dispatching
    assert seen["access_log"] is False  # request lines can carry residents' names
    assert not any(t.name == "outbox-dispatcher" for t in threading.enumerate())
