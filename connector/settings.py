"""CRM connection settings: `[crm]` in caseload.toml, overridden by `CASELOAD_CRM_*`.

Secrets never come from the TOML (it is often committed or world-readable): only from the
environment or from a secrets file that only its owner can read. Unknown keys fail loudly with a
suggestion, because a misspelt `alowed_hosts` silently ignored would be a residency hole.
"""

from __future__ import annotations

import difflib
import os
import stat
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

SECRET_FIELDS = ("password", "client_secret")

AuthMode = Literal["username_token", "flauth", "basic", "oauth2"]


class SettingsError(ValueError):
    """The CRM configuration is invalid; the message names the key and the fix."""


class CRMSettings(BaseSettings):
    """Everything needed to reach one council CRM safely."""

    model_config = SettingsConfigDict(
        env_prefix="CASELOAD_CRM_",
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,
    )

    kind: Literal["lagan", "dynamics365"] = "lagan"
    endpoint: str = Field(
        description="Lagan: the FL service URL (https://host/lagan/services/FL). "
        "Dataverse: the Web API root (https://org.crm11.dynamics.com/api/data/v9.2/)."
    )
    auth_endpoint: str | None = Field(
        default=None, description="Lagan FLAuth URL; defaults to the FL URL with FL -> FLAuth."
    )
    token_url: str | None = Field(default=None, description="OAuth2 token URL (Dataverse).")
    scope: str | None = Field(default=None, description="OAuth2 scope, e.g. https://org/.default")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="The only hosts the connector may contact."
    )
    ca_bundle: Path | None = None
    wsdl_path: Path | None = Field(
        default=None, description="Override the packaged FL WSDL (its hash must be pinned)."
    )
    wsdl_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    auth_mode: AuthMode = "username_token"
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    proxy_user: str | None = Field(
        default=None, description="Lagan user id to act as via authenticateByProxy."
    )
    secrets_file: Path | None = Field(
        default=None, description="KEY=VALUE file (password, client_secret), mode 0600."
    )
    portal_id_field: str = Field(
        default="PortalId", description="Lagan form field / Dataverse column holding the key."
    )
    portal_id_column: str = "cr_portalid"
    case_expand: str = Field(
        default=(
            "customerid_contact($select=firstname,lastname,emailaddress1,telephone1),"
            "Incident_Annotation($select=annotationid,subject,notetext,filename,mimetype,"
            "filesize,isdocument,createdon)"
        ),
        description=(
            "Dataverse: $expand on every incident read, so the mapping sees the customer and"
            " the case's notes (annotations, without their file bodies)."
        ),
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    read_timeout: float = Field(default=30.0, gt=0, le=600)
    deadline: float = Field(default=60.0, gt=0, le=3600, description="Total per call, seconds.")
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_budget: float = Field(default=120.0, gt=0, le=3600)
    backoff_initial: float = Field(default=0.5, ge=0, le=60)
    backoff_max: float = Field(default=30.0, ge=0, le=600)
    breaker_fail_max: int = Field(default=5, ge=1, le=1000)
    breaker_reset_timeout: float = Field(default=30.0, gt=0, le=3600)
    max_text_node: int = Field(default=1_000_000, ge=1024, description="Bytes per XML text node.")
    max_response_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over caseload.toml so an operator can override per deployment.
        return (env_settings, init_settings)

    @field_validator("allowed_hosts")
    @classmethod
    def _normalise_hosts(cls, hosts: list[str]) -> list[str]:
        out = []
        for host in hosts:
            h = host.strip().lower().rstrip(".")
            if not h or "/" in h or "@" in h:
                raise ValueError(f"{host!r} is not a host name (no scheme, path or user)")
            out.append(h)
        return out

    @model_validator(mode="after")
    def _load_secrets_file(self) -> CRMSettings:
        if self.secrets_file is not None:
            for key, value in read_secrets_file(self.secrets_file).items():
                if getattr(self, key) is None:
                    setattr(self, key, SecretStr(value))
        return self

    def secret(self, name: str) -> str | None:
        """The plain secret, for the one place that puts it on the wire."""
        value = getattr(self, name)
        return value.get_secret_value() if isinstance(value, SecretStr) else None


def _check_private(path: Path, info: os.stat_result) -> None:
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"crm.secrets_file {path} is readable by group or others "
            f"(mode {stat.filemode(info.st_mode)}); run `chmod 600 {path}`."
        )
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise SettingsError(
            f"crm.secrets_file {path} belongs to another user; it must be owned by the "
            "service user that runs Caseload."
        )


def read_secrets_file(path: Path) -> dict[str, str]:
    """Read `password=...`/`client_secret=...` lines from a file only its owner can read."""
    try:
        # Check the file that is actually read (fstat on the open descriptor), not a name that
        # could be swapped between the check and the read.
        with path.open("rb") as fh:
            info = os.fstat(fh.fileno())
            _check_private(path, info)
            text = fh.read().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"crm.secrets_file {path}: cannot read it ({exc.strerror})") from None
    secrets: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        key = key.strip().lower().removeprefix("caseload_crm_")
        if not sep or key not in SECRET_FIELDS:
            raise SettingsError(
                f"crm.secrets_file {path} line {number}: expected one of "
                f"{', '.join(SECRET_FIELDS)} as KEY=VALUE"
            )
        secrets[key] = value.strip()
    return secrets


def _explain(exc: ValidationError, source: str) -> SettingsError:
    known = sorted(CRMSettings.model_fields)
    lines = [f"invalid CRM settings in {source}:"]
    for err in exc.errors(include_input=False, include_url=False):
        key = ".".join(str(p) for p in err["loc"]) or "(table)"
        if err["type"] == "extra_forbidden":
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean crm.{guess[0]}?)" if guess else ""
            lines.append(f"  crm.{key}: unknown key{hint}")
        elif err["type"] == "missing":
            lines.append(f"  crm.{key}: required, not set (TOML or CASELOAD_CRM_{key.upper()})")
        else:
            lines.append(f"  crm.{key}: {err['msg']}")
    return SettingsError("\n".join(lines))


def _refuse_unknown_environment() -> None:
    """pydantic-settings ignores unknown `CASELOAD_CRM_*` variables; a typo must not pass."""
    prefix = "CASELOAD_CRM_"
    known = {prefix + name.upper(): name for name in CRMSettings.model_fields}
    unknown = sorted(
        k for k in os.environ if k.upper().startswith(prefix) and k.upper() not in known
    )
    if not unknown:
        return
    lines = ["invalid CRM settings in the environment:"]
    for name in unknown:
        guess = difflib.get_close_matches(name.upper(), list(known), n=1)
        hint = f" (did you mean {guess[0]}?)" if guess else ""
        lines.append(f"  {name}: unknown variable{hint}")
    raise SettingsError("\n".join(lines))


def load_crm_settings(
    config: Path | None = None, overrides: dict[str, Any] | None = None
) -> CRMSettings:
    """Build settings from the `[crm]` table of caseload.toml plus `CASELOAD_CRM_*`."""
    table: dict[str, Any] = {}
    source = "the environment"
    if config is not None:
        source = str(config)
        try:
            with config.open("rb") as fh:
                document = tomllib.load(fh)
        except FileNotFoundError:
            raise SettingsError(f"{config}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{config}: not valid TOML ({exc})") from None
        crm = document.get("crm", {})
        if not isinstance(crm, dict):
            raise SettingsError(f"{config}: [crm] must be a table")
        table = dict(crm)
    for key in SECRET_FIELDS:
        if key in table:
            raise SettingsError(
                f"{source}: crm.{key} must not be in the TOML file; set "
                f"CASELOAD_CRM_{key.upper()} or use crm.secrets_file (mode 0600)."
            )
    table.update(overrides or {})
    _refuse_unknown_environment()
    try:
        return CRMSettings(**table)
    except ValidationError as exc:
        raise _explain(exc, source) from None


__all__ = ["AuthMode", "CRMSettings", "SettingsError", "load_crm_settings", "read_secrets_file"]
