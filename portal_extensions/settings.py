"""Store, sync and outbox settings: `[store]` (and top-level `data_dir`) in caseload.toml.

The environment wins over the file (`CASELOAD_DATA_DIR`, `CASELOAD_DATABASE_URL`,
`CASELOAD_SYNC_BATCH_SIZE`, ...), so one deployment can override a shared file. Unknown keys
fail loudly: a misspelt `databse_url` silently ignored would quietly write to the wrong place.
The CRM half comes from `connector.settings` (`[crm]`), composed here by `load_settings`.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from connector.settings import CRMSettings, load_crm_settings

#: Top-level keys of caseload.toml that belong to the store (the rest belong to other rooms).
TOP_LEVEL_KEYS = ("data_dir", "database_url")


class StoreSettingsError(ValueError):
    """The store configuration is invalid; the message names the key and the fix."""


class StoreSettings(BaseSettings):
    """Where the index lives and how sync and the outbox pace themselves."""

    model_config = SettingsConfigDict(
        env_prefix="CASELOAD_", extra="forbid", validate_default=True, hide_input_in_errors=True
    )

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
    event_secret: SecretStr | None = Field(
        default=None, description="Shared secret for CRM case-event pushes (environment only)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    @property
    def url(self) -> str:
        """The database URL to open: the configured one, or the SQLite file in data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'caseload.sqlite').resolve()}"


class Settings:
    """The store settings plus, when configured, the CRM settings (`[crm]`)."""

    def __init__(self, store: StoreSettings, crm: CRMSettings | None) -> None:
        self.store = store
        self.crm = crm


def _explain(exc: ValidationError, source: str) -> StoreSettingsError:
    known = sorted(StoreSettings.model_fields)
    lines = [f"invalid store settings in {source}:"]
    for err in exc.errors(include_input=False, include_url=False):
        key = ".".join(str(p) for p in err["loc"]) or "(table)"
        if err["type"] == "extra_forbidden":
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean store.{guess[0]}?)" if guess else ""
            lines.append(f"  store.{key}: unknown key{hint}")
        else:
            lines.append(f"  store.{key}: {err['msg']}")
    return StoreSettingsError("\n".join(lines))


def _read_toml(config: Path) -> dict[str, Any]:
    try:
        with config.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise StoreSettingsError(f"{config}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise StoreSettingsError(f"{config}: not valid TOML ({exc})") from None


def load_store_settings(
    config: Path | None = None, overrides: dict[str, Any] | None = None
) -> StoreSettings:
    """Build store settings from caseload.toml (`[store]` + top-level keys) and the environment."""
    table: dict[str, Any] = {}
    source = "the environment"
    if config is not None:
        source = str(config)
        document = _read_toml(config)
        for key in TOP_LEVEL_KEYS:
            if key in document:
                table[key] = document[key]
        store = document.get("store", {})
        if not isinstance(store, dict):
            raise StoreSettingsError(f"{config}: [store] must be a table")
        if "event_secret" in store:
            raise StoreSettingsError(
                f"{config}: store.event_secret must not be in the TOML file; set "
                "CASELOAD_EVENT_SECRET in the service's environment."
            )
        table.update(store)
    table.update(overrides or {})
    try:
        return StoreSettings(**table)
    except ValidationError as exc:
        raise _explain(exc, source) from None


def load_settings(config: Path | None = None, *, need_crm: bool = True) -> Settings:
    """Store settings plus CRM settings; the CRM half only if `need_crm` or configured."""
    store = load_store_settings(config)
    crm: CRMSettings | None = None
    has_crm_table = config is not None and isinstance(_read_toml(config).get("crm"), dict)
    if need_crm or has_crm_table:
        crm = load_crm_settings(config)
    return Settings(store, crm)


__all__ = [
    "Settings",
    "StoreSettings",
    "StoreSettingsError",
    "load_settings",
    "load_store_settings",
]
