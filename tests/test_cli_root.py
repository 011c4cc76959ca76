"""The root `caseload` command: every area an administrator needs, help texts that show the
table names they mention, and configuration mistakes that stop a command instead of passing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cli.main import app

#: Wide enough that no help line is wrapped in the middle of a table name.
WIDE = {"COLUMNS": "200", "TERM": "dumb"}
TABLE_NAME = re.compile(r"\\?\[([a-z_]+)\]")


def test_root_help_lists_every_area() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for area in (
        "mappings",
        "sandbox",
        "crm",
        "directory",
        "outbox",
        "sync",
        "status",
        "migrate",
        "serve",
        "worker",
        "demo",
        "users",
        "audit",
    ):
        assert area in result.output


@pytest.mark.parametrize("command", ["status", "serve"])
def test_help_shows_the_table_names_literally(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env=WIDE)
    assert result.exit_code == 0
    assert "[store]" in result.output and "[crm]" in result.output
    assert "caseload.toml (, " not in result.output


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command's path under `group` (typer's groups are duck-typed click groups)."""
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        found += _commands(command, (*path, name))
    return found


def test_no_help_text_loses_a_bracketed_name() -> None:
    """Rich takes `[store]` for a style tag; every help text must escape such names."""
    root = typer.main.get_command(app)
    paths = _commands(root)
    assert ("status",) in paths and ("users", "list") in paths
    for path in paths:
        command: Any = root
        for name in path:
            command = command.commands[name]
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        wanted = {m.group(1) for text in texts for m in TABLE_NAME.finditer(text)}
        result = CliRunner().invoke(app, [*path, "--help"], env=WIDE)
        assert result.exit_code == 0, (path, result.output)
        for name in wanted:
            assert f"[{name}]" in result.output, (path, name)


def test_a_misspelt_store_table_stops_status_instead_of_using_a_local_file(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "caseload.toml"
    config.write_text('[sotre]\ndatabase_url = "postgresql+psycopg://caseload@db/caseload"\n')
    result = CliRunner().invoke(app, ["status", "--config", str(config)], env=WIDE)
    assert result.exit_code != 0
    assert f"{config}: unknown table [sotre]; did you mean [store]?" in result.output
    assert not (tmp_path / "data").exists(), "no local store was created"


def test_a_misspelt_key_stops_every_command_that_reads_the_file(tmp_path: Path) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n[store]\ndatabse_url = "x"\n')
    for command in (["status"], ["migrate"], ["users", "list"], ["sync"], ["worker", "--once"]):
        result = CliRunner().invoke(app, [*command, "--config", str(config)], env=WIDE)
        assert result.exit_code == 1, (command, result.output)
        assert "store.databse_url: unknown key in [store] (did you mean store.database_url?)" in (
            result.output
        ), command


def test_migrate_brings_a_new_store_up_to_date_once(tmp_path: Path) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    first = CliRunner().invoke(app, ["migrate", "--config", str(config)])
    assert first.exit_code == 0, first.output
    assert "the store was migrated from revision none to" in first.output
    assert (tmp_path / "data" / "caseload.sqlite").exists()
    again = CliRunner().invoke(app, ["migrate", "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "the store is up to date" in again.output


def test_the_worker_needs_a_crm(tmp_path: Path) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    result = CliRunner().invoke(app, ["worker", "--once", "--config", str(config)], env=WIDE)
    assert result.exit_code == 1
    assert "crm.endpoint: required, not set (TOML or CASELOAD_CRM_ENDPOINT)" in result.output


@pytest.mark.sandbox_crm(cases=6)
def test_the_worker_runs_one_round_against_the_crm(
    sandbox_crm_server, tmp_path: Path, monkeypatch
) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n'
        f'[crm]\nkind = "lagan"\nendpoint = "{sandbox_crm_server.fl_url}"\n'
        f'allowed_hosts = ["127.0.0.1"]\nusername = "{sandbox_crm_server.username}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", sandbox_crm_server.password)
    result = CliRunner().invoke(app, ["worker", "--once", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "synced 6 cases" in result.output
    assert "outbox: 0 writes handled" in result.output


@pytest.mark.sandbox_crm(cases=4)
def test_the_worker_runs_until_sigterm_and_logs_with_time_and_level(
    sandbox_crm_server, tmp_path: Path
) -> None:
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n\n'
        f'[crm]\nkind = "lagan"\nendpoint = "{sandbox_crm_server.fl_url}"\n'
        f'allowed_hosts = ["127.0.0.1"]\nusername = "{sandbox_crm_server.username}"\n\n'
        "[worker]\ndispatch_interval_seconds = 0.2\n\n"
        '[logging]\nformat = "json"\n',
        encoding="utf-8",
    )
    env = {**os.environ, "CASELOAD_CRM_PASSWORD": sandbox_crm_server.password}
    command = [sys.executable, "-m", "cli.main", "worker", "--config", str(config)]
    child = subprocess.Popen(  # noqa: S603 (our own command)
        command, env=env, stderr=subprocess.PIPE, text=True
    )
    assert child.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stderr.readline()
            if not line:
                break
            lines.append(json.loads(line))
            if lines[-1]["message"].startswith("synced 4 cases"):
                break
        child.send_signal(signal.SIGTERM)
        _, rest = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    lines += [json.loads(line) for line in rest.splitlines()]
    messages = [entry["message"] for entry in lines]
    assert child.returncode == 0
    assert any(m.startswith("worker started") for m in messages)
    assert any(m.startswith("synced 4 cases") for m in messages)
    assert messages[-1] == "worker stopped"
    assert {entry["level"] for entry in lines} <= {"INFO", "WARNING"}
    assert all(entry["time"].endswith("+00:00") and entry["logger"] for entry in lines)
