"""`caseload crm` commands against the in-process sandbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from connector.residency import HostAllowlist

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch) -> None:
    monkeypatch.setattr(HostAllowlist, "_check_resolution", lambda self, host, op: None)


def _config(tmp_path: Path, handle, monkeypatch, **extra: str) -> Path:
    lines = [
        "[crm]",
        f'endpoint = "{handle.fl_url}"',
        f'auth_endpoint = "{handle.flauth_url}"',
        'allowed_hosts = ["crm.sandbox.test"]',
        f'username = "{handle.username}"',
        "retry_attempts = 2",
    ] + [f'{k} = "{v}"' for k, v in extra.items()]
    path = tmp_path / "caseload.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", handle.password)
    return path


@pytest.mark.sandbox_crm(cases=5)
def test_get_raw_prints_the_crm_record(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    ref = sandbox_crm.find_cases()[0]
    case_ref = ref.get("ref") or ref.get("CaseReference") or "101000000001"
    result = runner.invoke(app, ["crm", "get", "101000000001", "--raw", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["CoreDetails"]["CaseReference"] == "101000000001"
    assert case_ref


@pytest.mark.sandbox_crm(cases=5)
def test_operations_lists_the_wsdl_operations(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    result = runner.invoke(app, ["crm", "operations", "--config", str(config)])
    assert result.exit_code == 0
    assert "createCase" in result.output.split()


def test_misspelt_setting_exits_2_with_the_key(tmp_path) -> None:
    path = tmp_path / "caseload.toml"
    path.write_text('[crm]\nendpoint = "https://x/FL"\nalowed_hosts = []\n')
    result = runner.invoke(app, ["crm", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "crm.allowed_hosts" in result.output


@pytest.mark.sandbox_crm(cases=5)
def test_check_fails_with_one_line_per_probe_when_auth_is_wrong(
    sandbox_crm, tmp_path, monkeypatch
) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", "wrong-password")
    result = runner.invoke(app, ["crm", "check", "--config", str(config)])
    assert result.exit_code == 1
    names = [line.split()[1] for line in result.output.splitlines() if line.strip()]
    assert names == ["allowlist", "dns", "tls", "contract", "auth", "latency"]
    assert "FAIL auth" in result.output
    assert "wrong-password" not in result.output


@pytest.mark.sandbox_crm(cases=5)
def test_get_prints_the_mapped_case_by_default(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    result = runner.invoke(app, ["crm", "get", "101000000001", "--config", str(config)])
    assert result.exit_code == 0, result.output
    mapped = json.loads(result.output)
    assert mapped["member_id"].startswith("cllr-")
    assert "CoreDetails" not in mapped
