"""`portal_extensions.config`: the one loader of caseload.toml and the CASELOAD_* environment.

Every table and key is known; an unknown table, key or variable is refused with the file, the
table, the key and a suggestion; the environment wins over the file; secrets never come from
the file and are never shown.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from portal_extensions.config import (
    EVENTS_SECRET_ENV,
    PORTAL_SECRET_ENV,
    TABLES,
    Config,
    ConfigError,
    find_config,
    load_config,
)

SECRET = "s" * 40
CRM = '[crm]\nendpoint = "https://crm.council.gov.uk/lagan/services/FL"\n'


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "caseload.toml"
    path.write_text(body, encoding="utf-8")
    return path


def _refusal(
    path: Path | None,
    environ: dict[str, str] | None = None,
    *,
    need_crm: bool = False,
    need_portal: bool = False,
) -> str:
    """The message of the ConfigError that loading `path` with `environ` raises."""
    with pytest.raises(ConfigError) as info:
        load_config(path, need_crm=need_crm, need_portal=need_portal, environ=environ or {})
    return str(info.value)


def _private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


# ------------------------------------------------------------------ unknown tables and keys


@pytest.mark.parametrize(
    ("typo", "table"),
    [
        ("sotre", "store"),
        ("crn", "crm"),
        ("portl", "portal"),
        ("wroker", "worker"),
        ("loging", "logging"),
    ],
)
def test_an_unknown_table_is_refused_with_the_file_and_a_suggestion(
    tmp_path: Path, typo: str, table: str
) -> None:
    path = _toml(tmp_path, f'[{typo}]\nanything = "x"\n')
    assert _refusal(path) == f"{path}: unknown table [{typo}]; did you mean [{table}]?"


def test_an_unknown_table_unlike_any_lists_the_tables(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[smtp]\nhost = "mail"\n')
    message = _refusal(path)
    assert f"{path}: unknown table [smtp]" in message
    assert "[crm], [store], [portal], [worker], [logging]" in message


def test_the_misspelt_store_table_does_not_fall_back_to_a_local_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[sotre]\ndatabase_url = "postgresql+psycopg://caseload@db/caseload"\n')
    assert "did you mean [store]?" in _refusal(path)


@pytest.mark.parametrize(
    ("table", "typo", "key"),
    [
        ("crm", "alowed_hosts", "allowed_hosts"),
        ("store", "databse_url", "database_url"),
        ("portal", "council_nam", "council_name"),
        ("worker", "sync_intervall_seconds", "sync_interval_seconds"),
        ("logging", "levle", "level"),
    ],
)
def test_an_unknown_key_is_refused_in_every_table_with_the_file_table_and_suggestion(
    tmp_path: Path, table: str, typo: str, key: str
) -> None:
    header = "" if table == "crm" else f"[{table}]\n"
    path = _toml(tmp_path, f'{CRM}{header}{typo} = "x"\n')
    message = _refusal(path, {PORTAL_SECRET_ENV: SECRET}, need_portal=True)
    assert f"invalid [{table}] settings in {path}:" in message
    assert f"  {table}.{typo}: unknown key in [{table}] (did you mean {table}.{key}?)" in message


def test_every_table_is_checked_even_when_the_command_does_not_load_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[portal]\nframe_ancestor = ["https://x.example"]\n')
    message = _refusal(path)  # no portal needed (e.g. `caseload status`), still refused
    assert (
        "portal.frame_ancestor: unknown key in [portal] (did you mean portal.frame_ancestors?)"
        in message
    )


def test_an_unknown_top_level_key_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'dta_dir = "/srv/caseload"\n')
    assert _refusal(path) == f"{path}: unknown top-level key dta_dir; did you mean data_dir?"


def test_a_table_written_as_a_value_is_named(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'store = "postgresql://db"\n')
    assert _refusal(path) == f"{path}: [store] must be a table"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[sotre]\nx = 1\n[crm]\nalowed_hosts = []\n[logging]\nformt = "json"\n')
    message = _refusal(path)
    for part in ("[sotre]", "crm.alowed_hosts", "logging.formt"):
        assert part in message


def test_a_missing_or_broken_file_is_named(tmp_path: Path) -> None:
    assert (
        _refusal(tmp_path / "absent.toml")
        == f"{tmp_path / 'absent.toml'}: no such configuration file"
    )
    path = _toml(tmp_path, "[store\n")
    assert _refusal(path).startswith(f"{path}: not valid TOML")


def test_data_dir_given_twice_differently_is_refused(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'data_dir = "/srv/a"\n[store]\ndata_dir = "/srv/b"\n')
    assert "data_dir is set both at the top level and in [store]" in _refusal(path)


# ------------------------------------------------------------------- moved from the old loaders


def test_misspelt_key_fails_with_a_suggestion(tmp_path: Path) -> None:
    path = _toml(tmp_path, CRM + 'alowed_hosts = ["crm.council.gov.uk"]\n')
    with pytest.raises(
        ConfigError,
        match=r"crm.alowed_hosts: unknown key in \[crm\] \(did you mean crm.allowed_hosts",
    ):
        load_config(path, need_crm=True, environ={})


def test_misspelt_environment_variable_fails_with_a_suggestion(tmp_path: Path) -> None:
    path = _toml(tmp_path, CRM)
    with pytest.raises(
        ConfigError,
        match=r"CASELOAD_CRM_ALOWED_HOSTS: unknown variable \(did you mean CASELOAD_CRM_ALLOWED_H",
    ):
        load_config(path, need_crm=True, environ={"CASELOAD_CRM_ALOWED_HOSTS": '["evil.example"]'})


def test_secrets_file_of_another_mode_or_missing_names_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "absent.secrets"
    path = _toml(tmp_path, CRM + f'secrets_file = "{missing}"\n')
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(path, need_crm=True, environ={})
    group_readable = _private(tmp_path / "group.secrets", "client_secret=s3cr3t-value\n", 0o640)
    path = _toml(tmp_path, CRM + f'secrets_file = "{group_readable}"\n')
    with pytest.raises(ConfigError, match="readable by group or others") as info:
        load_config(path, need_crm=True, environ={})
    assert "s3cr3t-value" not in str(info.value)


def test_environment_overrides_toml_and_secrets_stay_hidden(tmp_path: Path) -> None:
    path = _toml(tmp_path, CRM + "read_timeout = 10\n")
    environ = {"CASELOAD_CRM_READ_TIMEOUT": "12.5", "CASELOAD_CRM_PASSWORD": "hunter2"}
    settings = load_config(path, need_crm=True, environ=environ).require_crm()
    assert settings.read_timeout == 12.5
    assert settings.secret("password") == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in settings.model_dump_json()


@pytest.mark.parametrize(
    ("table", "key", "variable"),
    [
        ("crm", "password", "CASELOAD_CRM_PASSWORD"),
        ("crm", "client_secret", "CASELOAD_CRM_CLIENT_SECRET"),
        ("portal", "secret_key", PORTAL_SECRET_ENV),
        ("worker", "events_secret", EVENTS_SECRET_ENV),
    ],
)
def test_secrets_in_the_toml_are_refused(
    tmp_path: Path, table: str, key: str, variable: str
) -> None:
    path = _toml(tmp_path, f'[{table}]\n{key} = "hunter2-hunter2-hunter2-hunter2-x"\n')
    message = _refusal(path)
    assert f"{table}.{key} must not be in the TOML file; set {variable}" in message
    assert "hunter2" not in message


def test_secrets_file_must_be_private(tmp_path: Path) -> None:
    secrets = _private(tmp_path / "crm.secrets", "password=hunter2\n", 0o644)
    path = _toml(tmp_path, CRM + f'secrets_file = "{secrets}"\n')
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(path, need_crm=True, environ={})
    os.chmod(secrets, 0o600)
    assert (
        load_config(path, need_crm=True, environ={}).require_crm().secret("password") == "hunter2"
    )


def test_invalid_values_name_the_key(tmp_path: Path) -> None:
    path = _toml(tmp_path, CRM + 'kind = "salesforce"\nwsdl_sha256 = "abc"\n')
    message = _refusal(path, need_crm=True)
    assert "crm.kind" in message and "crm.wsdl_sha256" in message
    assert "unknown CRM kind 'salesforce'" in message and "dynamics365, lagan" in message


def test_hosts_must_be_bare_names(tmp_path: Path) -> None:
    path = _toml(tmp_path, CRM + 'allowed_hosts = ["https://crm.council.gov.uk/"]\n')
    with pytest.raises(ConfigError, match="allowed_hosts"):
        load_config(path, need_crm=True, environ={})


def test_store_settings_refuse_unknown_keys_and_secrets_in_the_file(tmp_path: Path) -> None:
    config = _toml(tmp_path, 'data_dir = "/srv/caseload"\n[store]\ndatabse_url = "x"\n')
    with pytest.raises(ConfigError, match=r"did you mean store\.database_url"):
        load_config(config, need_crm=False, environ={})
    config.write_text('[store]\nevent_secret = "x"\n')
    with pytest.raises(ConfigError, match=EVENTS_SECRET_ENV):
        load_config(config, need_crm=False, environ={})
    config.write_text(
        'data_dir = "/srv/caseload"\n[store]\nsync_batch_size = 100\n[crm]\nkind = "lagan"\n'
        'endpoint = "https://crm.council.gov.uk/lagan/services/FL"\n'
    )
    settings = load_config(config, need_crm=False, environ={}).store
    assert settings.url == "sqlite:////srv/caseload/caseload.sqlite"
    assert settings.sync_batch_size == 100
    environ = {"CASELOAD_DATABASE_URL": "postgresql+psycopg://u@db/caseload"}
    assert (
        load_config(config, need_crm=False, environ=environ).store.url
        == environ["CASELOAD_DATABASE_URL"]
    )


def test_the_portal_secret_file_must_be_private(tmp_path: Path) -> None:
    secret = _private(tmp_path / "secret", SECRET, 0o644)
    config = _toml(tmp_path, f'[portal]\ncouncil_name = "N"\nsecret_key_file = "{secret}"\n')
    with pytest.raises(ConfigError, match="chmod 600"):
        load_config(config, need_crm=False, need_portal=True, environ={})
    secret.chmod(0o600)
    portal = load_config(config, need_crm=False, need_portal=True, environ={}).require_portal()
    assert portal.secret_key.get_secret_value() == SECRET


def test_a_misspelt_portal_setting_is_named(tmp_path: Path) -> None:
    config = _toml(
        tmp_path, '[portal]\ncouncil_name = "N"\nframe_ancestor = ["https://x.example"]\n'
    )
    with pytest.raises(ConfigError, match=r"portal\.frame_ancestor"):
        load_config(config, need_crm=False, need_portal=True, environ={PORTAL_SECRET_ENV: SECRET})


# ------------------------------------------------------------------------- the environment


def test_the_environment_overrides_every_table(tmp_path: Path) -> None:
    path = _toml(
        tmp_path,
        CRM + '[store]\ndatabase_url = "sqlite:///file.db"\n[portal]\ncouncil_name = "N"\n'
        '[worker]\nsync_interval_seconds = 600\n[logging]\nlevel = "WARNING"\n',
    )
    environ = {
        "CASELOAD_DATABASE_URL": "postgresql+psycopg://caseload@db/caseload",
        "CASELOAD_CRM_ALLOWED_HOSTS": '["crm.council.gov.uk"]',
        PORTAL_SECRET_ENV: SECRET,
        "CASELOAD_PORTAL_COUNCIL_NAME": "Fenmarsh",
        "CASELOAD_WORKER_SYNC_INTERVAL_SECONDS": "120",
        "CASELOAD_LOGGING_LEVEL": "debug",
        "CASELOAD_LOGGING_FORMAT": "JSON",
    }
    config = load_config(path, need_crm=True, need_portal=True, environ=environ)
    assert config.store.url == "postgresql+psycopg://caseload@db/caseload"
    assert config.require_crm().allowed_hosts == ["crm.council.gov.uk"]
    assert config.require_portal().council_name == "Fenmarsh"
    assert config.worker.sync_interval == timedelta(minutes=2)
    assert (config.logging.level, config.logging.format) == ("DEBUG", "json")


def test_a_list_variable_that_is_not_json_is_named(tmp_path: Path) -> None:
    message = _refusal(_toml(tmp_path, CRM), {"CASELOAD_CRM_ALLOWED_HOSTS": "crm.council.gov.uk"})
    assert "CASELOAD_CRM_ALLOWED_HOSTS: not a JSON list" in message


def test_a_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    message = _refusal(_toml(tmp_path, CRM), {"CASELOAD_CRM_READ_TIMEOUT": "soon"})
    assert "crm.read_timeout:" in message and "(from CASELOAD_CRM_READ_TIMEOUT)" in message


def test_a_near_miss_of_a_store_variable_is_refused_and_others_are_left_alone() -> None:
    message = _refusal(None, {"CASELOAD_DATABSE_URL": "postgresql+psycopg://db/caseload"})
    assert "CASELOAD_DATABSE_URL: unknown variable (did you mean CASELOAD_DATABASE_URL?)" in message
    unrelated = {
        "CASELOAD_TEST_POSTGRES_URL": "x",
        "CASELOAD_SKIP_POSTGRES": "1",
        "CASELOAD_HOME": "/x",
    }
    assert load_config(None, need_crm=False, environ=unrelated).store.database_url is None


def test_the_old_event_secret_variable_points_to_the_new_one() -> None:
    message = _refusal(None, {"CASELOAD_EVENT_SECRET": "x" * 20})
    assert f"did you mean {EVENTS_SECRET_ENV}?" in message


def test_every_table_has_an_environment_prefix_of_its_own() -> None:
    prefixes = [table.env_prefix for table in TABLES.values()]
    assert len(set(prefixes)) == len(prefixes)
    assert list(TABLES) == ["crm", "store", "portal", "worker", "logging", "reports"]


# ----------------------------------------------------------------- what each command needs


def test_a_command_that_needs_the_crm_names_what_is_missing() -> None:
    message = _refusal(None, need_crm=True)
    assert "crm.endpoint: required, not set (TOML or CASELOAD_CRM_ENDPOINT)" in message


def test_without_a_crm_table_the_crm_is_not_configured(tmp_path: Path) -> None:
    config = load_config(_toml(tmp_path, "[store]\n"), need_crm=False, environ={})
    assert config.crm is None
    with pytest.raises(ConfigError, match=r"no CRM is configured: add a \[crm\] table"):
        config.require_crm()


def test_the_portal_needs_its_session_secret_only_when_served(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[portal]\ncouncil_name = "N"\n')
    assert load_config(path, need_crm=False, environ={}).portal is None
    assert "no session secret: set CASELOAD_PORTAL_SECRET_KEY" in _refusal(path, need_portal=True)


def test_the_worker_has_safe_defaults() -> None:
    config = load_config(None, need_crm=False, environ={})
    assert config.worker.sync_interval == timedelta(minutes=5)
    assert config.worker.dispatch_interval == timedelta(seconds=5)
    assert config.worker.events_secret is None  # the push-event route is off
    assert (config.logging.level, config.logging.format) == ("INFO", "text")
    assert config == Config(source=None)


def test_the_events_secret_comes_from_the_environment_or_a_private_file(tmp_path: Path) -> None:
    environ = {PORTAL_SECRET_ENV: SECRET}
    portal = '[portal]\ncouncil_name = "N"\n'
    events = _private(tmp_path / "events", "e" * 24 + "\n", 0o640)
    path = _toml(tmp_path, portal + f'[worker]\nevents_secret_file = "{events}"\n')
    assert "readable by group or others" in _refusal(path, environ, need_portal=True)
    # Read only where the portal (whose route uses it) is served.
    assert load_config(path, need_crm=False, environ=environ).worker.events_secret is None
    os.chmod(events, 0o600)
    worker = load_config(path, need_crm=False, need_portal=True, environ=environ).worker
    assert worker.events_secret is not None
    assert worker.events_secret.get_secret_value() == "e" * 24
    from_env = {**environ, EVENTS_SECRET_ENV: "f" * 24}
    worker = load_config(path, need_crm=False, need_portal=True, environ=from_env).worker
    assert worker.events_secret is not None and worker.events_secret.get_secret_value() == "f" * 24
    assert "f" * 24 not in repr(worker)


def test_a_short_events_secret_is_refused_without_showing_it(tmp_path: Path) -> None:
    path = _toml(tmp_path, '[portal]\ncouncil_name = "N"\n')
    message = _refusal(
        path, {PORTAL_SECRET_ENV: SECRET, EVENTS_SECRET_ENV: "short1"}, need_portal=True
    )
    assert "at least 16 characters" in message and "short1" not in message


@pytest.mark.parametrize(
    ("table", "line", "words"),
    [
        ("logging", 'level = "LOUD"', "logging.level"),
        ("logging", 'format = "xml"', "logging.format"),
        ("worker", "sync_interval_seconds = 0", "worker.sync_interval_seconds"),
        ("worker", "dispatch_interval_seconds = -1", "worker.dispatch_interval_seconds"),
    ],
)
def test_invalid_worker_and_logging_values_are_named(
    tmp_path: Path, table: str, line: str, words: str
) -> None:
    path = _toml(tmp_path, f"[{table}]\n{line}\n")
    message = _refusal(path)
    assert f"invalid [{table}] settings in {path}:" in message and words in message


def test_the_configuration_file_is_found_by_option_variable_or_working_directory(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert find_config(None, {}) is None
    (tmp_path / "caseload.toml").write_text("")
    assert find_config(None, {}) == Path("caseload.toml")
    assert find_config(None, {"CASELOAD_CONFIG": "/etc/caseload/caseload.toml"}) == Path(
        "/etc/caseload/caseload.toml"
    )
    assert find_config(Path("other.toml"), {"CASELOAD_CONFIG": "/etc/x.toml"}) == Path("other.toml")
