"""The connector's own CRM settings model: kinds from the registry, bare host names, secrets
files only their owner can read, secrets never shown. Reading them from caseload.toml and the
environment is `portal_extensions.config`'s (tests/test_config.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from connector.settings import CRMSettings, SettingsError, read_secrets_file

ENDPOINT = "https://crm.council.gov.uk/lagan/services/FL"


def test_an_unknown_kind_is_refused_by_name_with_the_known_kinds() -> None:
    with pytest.raises(ValidationError) as info:
        CRMSettings(kind="salesforce", endpoint=ENDPOINT)
    text = str(info.value)
    assert "'salesforce'" in text and "dynamics365, lagan" in text


@pytest.mark.parametrize("kind", ["lagan", "dynamics365"])
def test_every_registered_kind_is_accepted(kind: str) -> None:
    assert CRMSettings(kind=kind, endpoint=ENDPOINT).kind == kind


def test_hosts_must_be_bare_names() -> None:
    with pytest.raises(ValidationError, match="allowed_hosts"):
        CRMSettings(endpoint=ENDPOINT, allowed_hosts=["https://crm.council.gov.uk/"])
    settings = CRMSettings(endpoint=ENDPOINT, allowed_hosts=[" CRM.Council.gov.uk. "])
    assert settings.allowed_hosts == ["crm.council.gov.uk"]


def test_secrets_file_of_another_mode_or_missing_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read it"):
        read_secrets_file(tmp_path / "absent.secrets")
    group_readable = tmp_path / "group.secrets"
    group_readable.write_text("client_secret=s3cr3t-value\n")
    os.chmod(group_readable, 0o640)
    with pytest.raises(SettingsError, match="readable by group or others") as info:
        read_secrets_file(group_readable)
    assert "s3cr3t-value" not in str(info.value)


def test_secrets_file_fills_the_secrets_only_when_private(tmp_path: Path) -> None:
    secrets = tmp_path / "crm.secrets"
    secrets.write_text("password=hunter2\n")
    os.chmod(secrets, 0o644)
    with pytest.raises(ValidationError, match="chmod 600"):
        CRMSettings(endpoint=ENDPOINT, secrets_file=secrets)
    os.chmod(secrets, 0o600)
    settings = CRMSettings(endpoint=ENDPOINT, secrets_file=secrets)
    assert settings.secret("password") == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.model_dump_json()


def test_a_secrets_file_line_that_is_not_a_secret_is_named(tmp_path: Path) -> None:
    secrets = tmp_path / "crm.secrets"
    secrets.write_text("# the CRM's\nusername=svc\n")
    os.chmod(secrets, 0o600)
    with pytest.raises(SettingsError, match="line 2: expected one of password, client_secret"):
        read_secrets_file(secrets)


def test_build_client_shares_one_client_per_settings_and_credentials() -> None:
    from connector import build_client, reset_clients
    from tests.connector.conftest import lagan_settings

    try:
        first = build_client(lagan_settings())
        assert build_client(lagan_settings()) is first
        assert build_client(lagan_settings(password="other")) is not first
    finally:
        reset_clients()
