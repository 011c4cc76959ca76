"""The one loader of Caseload's configuration: `caseload.toml` and the `CASELOAD_*` environment.

Every command, the portal and the worker take their settings from `load_config`, so every table
and key is known in this one place and anything else is refused with a suggestion: with a
misspelt `[sotre]` or `databse_url` silently ignored, a council's casework would go into a local
SQLite file instead of its database.

| table | model | environment (wins over the file) |
|---|---|---|
| top level | `data_dir` (and `database_url`) of `[store]` | `CASELOAD_DATA_DIR`, ... |
| `[crm]` | `connector.settings.CRMSettings` | `CASELOAD_CRM_<KEY>` |
| `[store]` | `StoreSettings` | `CASELOAD_<KEY>` (`CASELOAD_DATABASE_URL`, ...) |
| `[portal]` | `PortalSettings` | `CASELOAD_PORTAL_<KEY>` |
| `[worker]` | `WorkerSettings` | `CASELOAD_WORKER_<KEY>`; the secret `CASELOAD_EVENTS_SECRET` |
| `[logging]` | `LoggingSettings` | `CASELOAD_LOGGING_<KEY>` |

A value that is a list in the TOML is JSON in the environment
(`CASELOAD_CRM_ALLOWED_HOSTS='["crm.council.gov.uk"]'`). Secrets never come from the TOML, which
is often committed or world-readable: only from the environment or from a file only the service
user can read (`crm.secrets_file`, `portal.secret_key_file`, `worker.events_secret_file`).
"""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector.errors import CRMError
from connector.settings import CRMSettings, SettingsError, read_private_file

GOVUK_FRONTEND_VERSION = "6.3.0"  # the release govuk-frontend-jinja 4.1.0 targets

#: Where a command finds caseload.toml when `--config` is not given (then ./caseload.toml).
CONFIG_ENV = "CASELOAD_CONFIG"
DEFAULT_CONFIG = Path("caseload.toml")
PORTAL_SECRET_ENV = "CASELOAD_PORTAL_SECRET_KEY"  # noqa: S105 (the variable's name, not a secret)
EVENTS_SECRET_ENV = "CASELOAD_EVENTS_SECRET"  # noqa: S105 (the variable's name, not a secret)
#: `CASELOAD_*` variables that are not settings: never mistaken for a misspelt one.
OTHER_VARIABLES = frozenset(
    {
        CONFIG_ENV,
        "CASELOAD_SERVE_WORKER_CONFIG",
        "CASELOAD_TEST_POSTGRES_URL",
        "CASELOAD_SKIP_POSTGRES",
    }
)


_M = TypeVar("_M", bound=BaseModel)


class ConfigError(ValueError):
    """The configuration is invalid or incomplete; the message names the file, the table, the
    key and the fix, and never holds a secret."""


class StoreSettings(BaseModel):
    """Where the index lives and how sync and the outbox pace themselves (`[store]`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)

    data_dir: Path = Field(default=Path("data"), description="Holds caseload.sqlite by default.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+psycopg://caseload@db/caseload; "
        "default sqlite under data_dir.",
    )
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    sync_batch_size: int = Field(default=500, ge=1, le=10_000)
    sync_overlap_seconds: float = Field(
        default=300.0, ge=0, le=86_400, description="Re-read this window before the watermark."
    )
    outbox_lease_seconds: float = Field(default=120.0, gt=0, le=3600)
    outbox_max_attempts: int = Field(default=12, ge=1, le=1000)
    outbox_backoff_initial: float = Field(default=5.0, ge=0, le=3600)
    outbox_backoff_max: float = Field(default=900.0, ge=0, le=86_400)

    @property
    def url(self) -> str:
        """The database URL to open: the configured one, or the SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'caseload.sqlite').resolve()}"


class WorkerSettings(BaseModel):
    """How often the worker (`caseload worker`, or inside `caseload serve`) does its rounds, and
    the shared secret that signs the CRM's case-event pushes (`[worker]`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)

    sync_interval_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Sync changed cases this often."
    )
    dispatch_interval_seconds: float = Field(
        default=5.0, gt=0, le=3600, description="Send queued writes to the CRM this often."
    )
    events_secret_file: Path | None = Field(
        default=None,
        description="File (mode 0600) holding the secret the CRM signs its case-event pushes"
        f" with; or set {EVENTS_SECRET_ENV}. Unset: the push-event route is off.",
    )
    events_secret: SecretStr | None = Field(
        default=None, description="From the environment or events_secret_file only."
    )

    @field_validator("events_secret")
    @classmethod
    def _strong_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("the events secret must be at least 16 characters (a random value)")
        return value

    @property
    def sync_interval(self) -> timedelta:
        return timedelta(seconds=self.sync_interval_seconds)

    @property
    def dispatch_interval(self) -> timedelta:
        return timedelta(seconds=self.dispatch_interval_seconds)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LoggingSettings(BaseModel):
    """What the long-running commands log and how (`[logging]`; see `portal_extensions.logs`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)

    level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR.")
    format: Literal["text", "json"] = Field(
        default="text", description="text: one readable line; json: one object per line."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class SignInMode(StrEnum):
    """How a person proves who they are to the portal (`portal.sign_in_mode`)."""

    LOCAL = "local"  # accounts with argon2 password hashes, held by Caseload
    TRUSTED_HEADER = "trusted_header"  # the council's single sign-on proxy names the user


class PortalSettings(BaseModel):
    """What an operator may tune about the portal's web front, with safe defaults (`[portal]`).

    The session secret arrives as a `SecretStr` from the environment or a private file (see
    `load_config`) and is never printed.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    council_name: Annotated[str, Field(min_length=1, max_length=100)]
    secret_key: SecretStr = Field(description="Signs session cookies; at least 32 characters.")
    https: bool = Field(
        default=True,
        description="Served over HTTPS: cookies get Secure and responses get HSTS. Only turn"
        " off for loopback development.",
    )
    frame_ancestors: tuple[str, ...] = Field(
        default=(),
        description="Origins allowed to embed the portal in a frame (the CRM's own portal),"
        " e.g. 'https://crm.example.gov.uk'. Empty: nobody may frame it.",
    )
    sign_in_mode: SignInMode = SignInMode.LOCAL
    sso_header: str = "X-Remote-User"
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    forwarded_for_proxies: tuple[IPv4Network | IPv6Network, ...] = Field(
        default=(),
        description="Addresses of the reverse proxies in front of the portal whose"
        " X-Forwarded-For header names the client's address (for sign-in throttling), e.g."
        " ['10.0.0.5/32']. From anyone else the header is ignored. Empty: the connecting"
        " address is the client's.",
    )
    session_max_age_seconds: Annotated[int, Field(ge=300, le=7 * 24 * 3600)] = 8 * 3600
    failed_sign_in_limit: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5,
        description="Failed sign-ins to one account from one address before that address must"
        " wait (30 s, doubling with each further failure, up to the window).",
    )
    failed_sign_in_limit_per_account: Annotated[int, Field(ge=1, le=1000)] = Field(
        default=20,
        description="Failed sign-ins to one account from any addresses before the account must"
        " wait likewise. Other accounts are never held up.",
    )
    failed_sign_in_window_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = Field(
        default=15 * 60,
        description="The longest wait after failed sign-ins; failures are forgotten once"
        " none has come for twice this.",
    )
    govuk_frontend_dir: Path | None = None  # None: the copy in the wheel, else node_modules/
    recently_closed_days: Annotated[int, Field(ge=1, le=365)] = 30
    attachment_max_bytes: Annotated[int, Field(ge=1024, le=200 * 1024 * 1024)] = Field(
        default=10 * 1024 * 1024,
        description="The largest file a user may attach to a case (default 10 MB).",
    )
    bank_holiday_nation: Literal["england", "wales", "scotland", "northern_ireland"] = Field(
        default="england",
        description="Whose UK bank holidays are skipped when counting working days.",
    )

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 32:
            raise ValueError("secret_key must be at least 32 characters (use a random value)")
        return value

    @field_validator("trusted_proxies", "forwarded_for_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, list | tuple):
            return tuple(ip_network(str(item), strict=False) for item in value)
        return value

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not origin.startswith("https://") or any(c in origin for c in " ;,'\""):
                raise ValueError(
                    f"frame_ancestors entry {origin!r} must be an https:// origin"
                    " such as 'https://crm.example.gov.uk'"
                )
        return value

    @model_validator(mode="after")
    def _sso_needs_proxies(self) -> Self:
        if self.sign_in_mode is SignInMode.TRUSTED_HEADER and not self.trusted_proxies:
            raise ValueError(
                "sign_in_mode 'trusted_header' needs trusted_proxies: the addresses of the"
                " single sign-on proxy, so nobody else can name a user in the header"
            )
        return self

    def is_trusted_proxy(self, host: str | None) -> bool:
        return _within(host, self.trusted_proxies)

    def is_forwarding_proxy(self, host: str | None) -> bool:
        return _within(host, self.forwarded_for_proxies)


def _within(host: str | None, networks: tuple[IPv4Network | IPv6Network, ...]) -> bool:
    if host is None:
        return False
    try:
        address = ip_address(host.strip())
    except ValueError:
        return False
    return any(address in network for network in networks)


class ReportSettings(BaseModel):
    """How reports are published (`[reports]`)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)

    small_count_threshold: Annotated[int, Field(ge=1, le=100)] = Field(
        default=5,
        description="In a published report (the scrutiny report), counts from 1 to one less"
        " than this are withheld, with any figure they could be worked out from.",
    )


@dataclass(frozen=True)
class _Table:
    """How one table of caseload.toml is read."""

    name: str
    model: type[BaseModel]
    env_prefix: str
    #: Secret keys: never in the file; each from this environment variable (or a file).
    secrets: Mapping[str, str] = field(default_factory=dict)
    #: Where a secret may come from instead, for the message refusing it in the file.
    elsewhere: str = ""
    #: Keys the loader reads in the file that are not fields of the model.
    loader_keys: tuple[str, ...] = ()

    def env_name(self, key: str) -> str:
        return self.secrets.get(key) or self.env_prefix + key.upper()

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key this table takes (in the file or the environment)."""
        return (*self.model.model_fields, *self.loader_keys)

    @property
    def file_keys(self) -> list[str]:
        """The keys the file may hold: every key but the secrets."""
        return [key for key in self.keys if key not in self.secrets]


TABLES: dict[str, _Table] = {
    table.name: table
    for table in (
        _Table(
            "crm",
            CRMSettings,
            "CASELOAD_CRM_",
            secrets={
                "password": "CASELOAD_CRM_PASSWORD",
                "client_secret": "CASELOAD_CRM_CLIENT_SECRET",
            },
            elsewhere="or use crm.secrets_file (mode 0600)",
        ),
        _Table("store", StoreSettings, "CASELOAD_"),
        _Table(
            "portal",
            PortalSettings,
            "CASELOAD_PORTAL_",
            secrets={"secret_key": PORTAL_SECRET_ENV},
            elsewhere="in the service's environment or name a file with portal.secret_key_file",
            loader_keys=("secret_key_file",),
        ),
        _Table(
            "worker",
            WorkerSettings,
            "CASELOAD_WORKER_",
            secrets={"events_secret": EVENTS_SECRET_ENV},
            elsewhere="in the service's environment or name a file with worker.events_secret_file",
        ),
        _Table("logging", LoggingSettings, "CASELOAD_LOGGING_"),
        _Table("reports", ReportSettings, "CASELOAD_REPORTS_"),
    )
}
#: Keys at the top of the file (outside any table): settings of `[store]`, kept there as ever.
TOP_LEVEL_KEYS = ("data_dir", "database_url")
#: Keys that moved elsewhere: refused with where they went, rather than "unknown".
MOVED_KEYS = {
    ("store", "event_secret"): (
        f"the CRM push-event secret never lives in the TOML file: set {EVENTS_SECRET_ENV} in the"
        " service's environment or name a file with worker.events_secret_file"
    ),
}


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything Caseload was configured with: one settings object per table.

    `crm` is None when no `[crm]` table was given and the command did not need one; `portal` is
    None unless the command serves the portal (`need_portal`), since only the portal needs its
    session secret.
    """

    store: StoreSettings = field(default_factory=StoreSettings)
    crm: CRMSettings | None = None
    portal: PortalSettings | None = None
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    reports: ReportSettings = field(default_factory=ReportSettings)
    #: The file read, or None when everything came from the environment and the defaults.
    source: Path | None = None

    @property
    def where(self) -> str:
        return str(self.source) if self.source is not None else "the environment"

    def require_crm(self) -> CRMSettings:
        """The CRM settings, or a ConfigError saying how to add them."""
        if self.crm is None:
            raise ConfigError(
                f"{self.where}: no CRM is configured: add a [crm] table to caseload.toml"
                " (see `caseload crm check --help`)"
            )
        return self.crm

    def require_portal(self) -> PortalSettings:
        """The portal settings, or a ConfigError (they are only loaded with `need_portal`)."""
        if self.portal is None:
            raise ConfigError(f"{self.where}: the portal's settings were not loaded ([portal])")
        return self.portal


def find_config(explicit: Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file a command reads: `--config`, else `$CASELOAD_CONFIG`, else
    `./caseload.toml` if there is one, else None (the environment and the defaults alone)."""
    if explicit is not None:
        return explicit
    named = (os.environ if environ is None else environ).get(CONFIG_ENV)
    if named:
        return Path(named)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def load_config(
    path: Path | None,
    *,
    need_crm: bool,
    need_portal: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read caseload.toml (if `path`) and the `CASELOAD_*` environment into a `Config`.

    `need_crm`: the command talks to the CRM, so `[crm]` must be complete (otherwise it is read
    only if the file has it). `need_portal`: the command serves the portal, so `[portal]` and its
    session secret must be there, and the push-event secret is read (the portal's route uses it).
    Every problem found is reported at once in one `ConfigError`.
    """
    env = {
        name.upper(): value for name, value in (os.environ if environ is None else environ).items()
    }
    source = str(path) if path is not None else "the environment"
    tables = _read_tables(path) if path is not None else {}
    problems = _file_problems(tables, source) + _environment_problems(env)
    if problems:
        raise ConfigError("\n".join(problems))
    top = tables.pop("", {})
    store_values = dict(tables.get("store", {}))
    for key, value in top.items():
        if key in store_values and store_values[key] != value:
            problems.append(
                f"{source}: {key} is set both at the top level and in [store]; keep one"
            )
        store_values[key] = value
    built: dict[str, BaseModel | None] = {}
    wanted = {
        "store": True,
        "worker": True,
        "logging": True,
        "reports": True,
        "crm": need_crm or "crm" in tables,
        "portal": need_portal,
    }
    for name, table in TABLES.items():
        if not wanted[name]:
            built[name] = None
            continue
        values = store_values if name == "store" else dict(tables.get(name, {}))
        built[name] = _build(table, values, env, source, problems, need_portal=need_portal)
    if problems:
        raise ConfigError("\n".join(problems))
    return Config(
        store=_as(StoreSettings, built["store"]),
        crm=_as_optional(CRMSettings, built["crm"]),
        portal=_as_optional(PortalSettings, built["portal"]),
        worker=_as(WorkerSettings, built["worker"]),
        logging=_as(LoggingSettings, built["logging"]),
        reports=_as(ReportSettings, built["reports"]),
        source=path,
    )


def _as(model: type[_M], value: BaseModel | None) -> _M:
    if not isinstance(value, model):  # cannot happen: built from TABLES[name].model
        raise TypeError(f"expected {model.__name__}, got {type(value).__name__}")
    return value


def _as_optional(model: type[_M], value: BaseModel | None) -> _M | None:
    return None if value is None else _as(model, value)


# ------------------------------------------------------------------------------- the file


def _read_tables(path: Path) -> dict[str, dict[str, Any]]:
    """The file's tables by name, its top-level keys under ""; ConfigError if unreadable."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    tables: dict[str, dict[str, Any]] = {"": {}}
    for key, value in document.items():
        if isinstance(value, dict):
            tables[key] = value
        elif key in TABLES:
            raise ConfigError(f"{path}: [{key}] must be a table")
        else:
            tables[""][key] = value
    return tables


def _suggest(word: str, choices: list[str]) -> str | None:
    found = difflib.get_close_matches(word, choices, n=1)
    return found[0] if found else None


def _file_problems(tables: Mapping[str, Mapping[str, Any]], source: str) -> list[str]:
    """Unknown tables, unknown keys and secrets written in the file, each named with a fix."""
    problems: list[str] = []
    names = list(TABLES)
    for key in tables.get("", {}):
        if key in TOP_LEVEL_KEYS:
            continue
        guess = _suggest(key, list(TOP_LEVEL_KEYS))
        if guess:
            hint = f"; did you mean {guess}?"
        elif key in TABLES:
            hint = f"; [{key}] is a table"
        else:
            hint = f" (the top level holds {', '.join(TOP_LEVEL_KEYS)}; the rest goes in a table)"
        problems.append(f"{source}: unknown top-level key {key}{hint}")
    for name, values in tables.items():
        if name == "":
            continue
        table = TABLES.get(name)
        if table is None:
            guess = _suggest(name, names)
            hint = (
                f"did you mean [{guess}]?"
                if guess
                else "the tables are " + ", ".join(f"[{n}]" for n in names)
            )
            problems.append(f"{source}: unknown table [{name}]; {hint}")
            continue
        lines: list[str] = []
        for key in values:
            if key in table.secrets:
                lines.append(
                    f"  {name}.{key} must not be in the TOML file; set {table.env_name(key)}"
                    f" {table.elsewhere}"
                )
            elif (name, key) in MOVED_KEYS:
                lines.append(f"  {name}.{key}: {MOVED_KEYS[name, key]}")
            elif key not in table.keys:
                guess = _suggest(key, table.file_keys)
                hint = f" (did you mean {name}.{guess}?)" if guess else ""
                lines.append(f"  {name}.{key}: unknown key in [{name}]{hint}")
        if lines:
            problems.append(f"invalid [{name}] settings in {source}:\n" + "\n".join(lines))
    return problems


# ------------------------------------------------------------------------ the environment


def _environment_problems(env: Mapping[str, str]) -> list[str]:
    """`CASELOAD_*` variables that name no setting: a typo must not pass unnoticed.

    Under a table's own prefix (`CASELOAD_CRM_`, ...) every unknown name is refused; the
    store's variables share the bare `CASELOAD_` prefix with variables that are not settings,
    so there only a near miss of a known name is.
    """
    known: dict[str, str] = {}
    for table in TABLES.values():
        for key in table.keys:
            known[table.env_name(key)] = f"{table.name}.{key}"
    prefixed = [t.env_prefix for t in TABLES.values() if t.env_prefix != "CASELOAD_"]
    lines: list[str] = []
    for name in sorted(env):
        if not name.startswith("CASELOAD_") or name in known or name in OTHER_VARIABLES:
            continue
        prefix = next((p for p in prefixed if name.startswith(p)), None)
        if prefix is not None:
            choices = [k for k in known if k.startswith(prefix)]
            guess = _suggest(name, choices)
            hint = f" (did you mean {guess}?)" if guess else ""
            lines.append(f"  {name}: unknown variable{hint}")
            continue
        near = difflib.get_close_matches(name, [*known, *OTHER_VARIABLES], n=1, cutoff=0.85)
        if near:
            lines.append(f"  {name}: unknown variable (did you mean {near[0]}?)")
    return ["invalid settings in the environment:\n" + "\n".join(lines)] if lines else []


def _structured(annotation: object) -> bool:
    """Whether a field holds a list, tuple or mapping (JSON when it comes from a variable)."""
    for candidate in (annotation, *get_args(annotation)):
        if (get_origin(candidate) or candidate) in (list, tuple, dict, set, frozenset):
            return True
    return False


def _from_environment(table: _Table, env: Mapping[str, str], lines: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key in table.keys:
        name = table.env_name(key)
        if name not in env:
            continue
        raw = env[name]
        info = table.model.model_fields.get(key)
        if info is not None and _structured(info.annotation):
            try:
                values[key] = json.loads(raw)
            except json.JSONDecodeError:
                lines.append(f'  {name}: not a JSON list (e.g. ["first", "second"])')
                continue
        else:
            values[key] = raw
    return values


# ------------------------------------------------------------------------------ the models


def _build(
    table: _Table,
    values: dict[str, Any],
    env: Mapping[str, str],
    source: str,
    problems: list[str],
    *,
    need_portal: bool,
) -> BaseModel | None:
    """One table's settings: the file's values, the environment over them, secrets resolved."""
    lines: list[str] = []
    from_env = _from_environment(table, env, lines)
    values.update(from_env)
    if table.name == "portal":
        _portal_secret(values, lines)
    elif table.name == "worker" and need_portal:
        _events_secret(values, lines)
    model: BaseModel | None = None
    if not lines:
        try:
            model = table.model.model_validate(values)
        except ValidationError as error:
            lines.extend(_explain(table, error, from_env))
    if lines:
        problems.append(f"invalid [{table.name}] settings in {source}:\n" + "\n".join(lines))
    return model


def _secret_from_file(path: object, setting: str, lines: list[str]) -> str | None:
    try:
        return read_private_file(Path(str(path)), setting=setting).strip()
    except SettingsError as error:
        lines.append(f"  {error}")
        return None


def _portal_secret(values: dict[str, Any], lines: list[str]) -> None:
    """The session secret: `CASELOAD_PORTAL_SECRET_KEY` (already in `values`) or the file."""
    secret_file = values.pop("secret_key_file", None)
    if values.get("secret_key"):
        return
    if secret_file:
        secret = _secret_from_file(secret_file, "portal.secret_key_file", lines)
        if secret is not None:
            values["secret_key"] = secret
        return
    lines.append(
        f"  portal.secret_key: no session secret: set {PORTAL_SECRET_ENV} (at least 32 random"
        " characters) or portal.secret_key_file in caseload.toml"
    )


def _events_secret(values: dict[str, Any], lines: list[str]) -> None:
    """The push-event secret: `CASELOAD_EVENTS_SECRET` (already in `values`) or the file."""
    if values.get("events_secret") or not values.get("events_secret_file"):
        return
    secret = _secret_from_file(values["events_secret_file"], "worker.events_secret_file", lines)
    if secret is not None:
        values["events_secret"] = secret


def _explain(table: _Table, error: ValidationError, from_env: Mapping[str, Any]) -> list[str]:
    """Each validation error as `  table.key: what is wrong`, naming the variable it came from."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in item["loc"])
        key = str(item["loc"][0]) if item["loc"] else ""
        where = f"{table.name}.{location}" if location else f"[{table.name}]"
        if item["type"] == "missing":
            lines.append(f"  {where}: required, not set (TOML or {table.env_name(key)})")
            continue
        cause = item.get("ctx", {}).get("error")
        if isinstance(cause, CRMError):  # e.g. an unknown crm.kind, named with the known ones
            message = f"{cause.message}. {cause.advice}" if cause.advice else cause.message
        else:
            message = item["msg"].removeprefix("Value error, ")
        origin = f" (from {table.env_name(key)})" if key in from_env else ""
        lines.append(f"  {where}: {message}{origin}")
    return lines


__all__ = [
    "CONFIG_ENV",
    "EVENTS_SECRET_ENV",
    "GOVUK_FRONTEND_VERSION",
    "PORTAL_SECRET_ENV",
    "TABLES",
    "Config",
    "ConfigError",
    "LogLevel",
    "LoggingSettings",
    "PortalSettings",
    "ReportSettings",
    "SignInMode",
    "StoreSettings",
    "WorkerSettings",
    "find_config",
    "load_config",
]
