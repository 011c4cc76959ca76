"""`caseload serve` reads [portal] and [store], refuses a secret in the TOML, and serves.

The [portal] loader's own rules (the secret file, misspelt keys) are tested in tests/test_config.py.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from cli import portal_cmd
from tests.portal.web_fixtures import SECRET


def _cli() -> typer.Typer:
    app = typer.Typer()
    portal_cmd.register(app)

    @app.command("noop")
    def noop() -> None:  # a second command keeps `serve` a named subcommand
        """Nothing."""

    return app


def _config(tmp_path: Path, portal: str) -> Path:
    path = tmp_path / "caseload.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n\n[portal]\n{portal}\n', encoding="utf-8")
    return path


def test_serve_builds_the_portal_on_the_store_and_listens_on_loopback(
    tmp_path, monkeypatch
) -> None:
    served = {}

    def fake_run(app, **options):
        served["app"], served["options"] = app, options

    monkeypatch.setattr("uvicorn.run", fake_run)
    monkeypatch.setenv("CASELOAD_PORTAL_SECRET_KEY", SECRET)
    config = _config(tmp_path, 'council_name = "Northshire Council"\nhttps = false')
    result = CliRunner().invoke(_cli(), ["serve", "--config", str(config), "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert served["options"]["host"] == "127.0.0.1" and served["options"]["port"] == 8123
    assert served["options"]["proxy_headers"] is False
    client = TestClient(served["app"])
    assert "Sign in to Caseload" in client.get("/sign-in").text
    assert (tmp_path / "data" / "caseload.sqlite").exists()


def test_serve_refuses_a_secret_written_in_the_toml(tmp_path) -> None:
    config = _config(tmp_path, f'council_name = "N"\nsecret_key = "{SECRET}"')
    result = CliRunner().invoke(_cli(), ["serve", "--config", str(config)])
    assert result.exit_code == 2
    assert "must not be in the TOML" in result.output
    assert SECRET not in result.output
