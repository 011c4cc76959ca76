"""CRM settings: TOML + environment, misspelt keys, and secrets only from safe places."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from connector.settings import SettingsError, load_crm_settings


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "caseload.toml"
    path.write_text(body, encoding="utf-8")
    return path


BASE = '[crm]\nendpoint = "https://crm.council.gov.uk/lagan/services/FL"\n'


def test_misspelt_key_fails_with_a_suggestion(tmp_path) -> None:
    path = _toml(tmp_path, BASE + 'alowed_hosts = ["crm.council.gov.uk"]\n')
    with pytest.raises(
        SettingsError, match=r"crm.alowed_hosts: unknown key \(did you mean crm.allowed_hosts"
    ):
        load_crm_settings(path)


def test_misspelt_environment_variable_fails_with_a_suggestion(tmp_path, monkeypatch) -> None:
    path = _toml(tmp_path, BASE)
    monkeypatch.setenv("CASELOAD_CRM_ALOWED_HOSTS", '["evil.example"]')
    with pytest.raises(
        SettingsError,
        match=r"CASELOAD_CRM_ALOWED_HOSTS: unknown variable \(did you mean CASELOAD_CRM_ALLOWED_H",
    ):
        load_crm_settings(path)


def test_secrets_file_of_another_mode_or_missing_names_the_fix(tmp_path) -> None:
    missing = tmp_path / "absent.secrets"
    path = _toml(tmp_path, BASE + f'secrets_file = "{missing}"\n')
    with pytest.raises(SettingsError, match="cannot read it"):
        load_crm_settings(path)
    group_readable = tmp_path / "group.secrets"
    group_readable.write_text("client_secret=s3cr3t-value\n")
    os.chmod(group_readable, 0o640)
    path = _toml(tmp_path, BASE + f'secrets_file = "{group_readable}"\n')
    with pytest.raises(SettingsError, match="readable by group or others") as info:
        load_crm_settings(path)
    assert "s3cr3t-value" not in str(info.value)


def test_environment_overrides_toml_and_secrets_stay_hidden(tmp_path, monkeypatch) -> None:
    path = _toml(tmp_path, BASE + "read_timeout = 10\n")
    monkeypatch.setenv("CASELOAD_CRM_READ_TIMEOUT", "12.5")
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", "hunter2")
    settings = load_crm_settings(path)
    assert settings.read_timeout == 12.5
    assert settings.secret("password") == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.model_dump_json()


def test_secrets_in_the_toml_are_refused(tmp_path) -> None:
    path = _toml(tmp_path, BASE + 'password = "hunter2"\n')
    with pytest.raises(SettingsError, match="must not be in the TOML") as info:
        load_crm_settings(path)
    assert "hunter2" not in str(info.value)


def test_secrets_file_must_be_private(tmp_path) -> None:
    secrets = tmp_path / "crm.secrets"
    secrets.write_text("password=hunter2\n")
    os.chmod(secrets, 0o644)
    path = _toml(tmp_path, BASE + f'secrets_file = "{secrets}"\n')
    with pytest.raises(SettingsError, match="chmod 600"):
        load_crm_settings(path)
    os.chmod(secrets, 0o600)
    assert load_crm_settings(path).secret("password") == "hunter2"


def test_invalid_values_name_the_key(tmp_path) -> None:
    path = _toml(tmp_path, BASE + 'kind = "salesforce"\nwsdl_sha256 = "abc"\n')
    with pytest.raises(SettingsError) as info:
        load_crm_settings(path)
    assert "crm.kind" in str(info.value) and "crm.wsdl_sha256" in str(info.value)


def test_hosts_must_be_bare_names(tmp_path) -> None:
    path = _toml(tmp_path, BASE + 'allowed_hosts = ["https://crm.council.gov.uk/"]\n')
    with pytest.raises(SettingsError, match="allowed_hosts"):
        load_crm_settings(path)


def test_build_client_shares_one_client_per_settings_and_credentials() -> None:
    from connector import build_client, reset_clients
    from tests.connector.conftest import lagan_settings

    try:
        first = build_client(lagan_settings())
        assert build_client(lagan_settings()) is first
        assert build_client(lagan_settings(password="other")) is not first
    finally:
        reset_clients()
