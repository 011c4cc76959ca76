"""CRM connection settings: the `[crm]` table of caseload.toml, as the connector needs them.

The model lives with the connector (which needs nothing else); reading it from caseload.toml and
`CASELOAD_CRM_*` is `portal_extensions.config`'s job. Secrets never come from the TOML (it is
often committed or world-readable): only from the environment or from a secrets file that only
its owner can read (`read_secrets_file`). Unknown keys fail loudly (`extra="forbid"`), because a
misspelt `alowed_hosts` silently ignored would be a residency hole.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

SECRET_FIELDS = ("password", "client_secret")

AuthMode = Literal["username_token", "flauth", "basic", "oauth2"]

#: The default of `crm.max_response_bytes`: far above any page or document a council CRM sends
#: (a 200-case page is about 1 MB), low enough that a hostile answer stays far below 300 MB.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class SettingsError(ValueError):
    """The CRM configuration is invalid; the message names the key and the fix."""


class CRMSettings(BaseModel):
    """Everything needed to reach one council CRM safely.

    A plain model: `portal_extensions.config` reads it from `[crm]` and `CASELOAD_CRM_*`, and a
    program using the connector alone builds it from its own configuration.
    """

    model_config = ConfigDict(extra="forbid", validate_default=True, hide_input_in_errors=True)

    kind: str = Field(
        default="lagan",
        description="Which CRM: one of the kinds a connector subpackage registered "
        "(`connector.factory.kinds()`: lagan, dynamics365 as shipped).",
    )
    endpoint: str = Field(
        description="Lagan: the FL service URL (https://host/lagan/services/FL). "
        "Dataverse: the Web API root (https://org.crm11.dynamics.com/api/data/v9.2/)."
    )
    auth_endpoint: str | None = Field(
        default=None, description="Lagan FLAuth URL; defaults to the FL URL with FL -> FLAuth."
    )
    token_url: str | None = Field(default=None, description="OAuth2 token URL (Dataverse).")
    scope: str | None = Field(
        default=None,
        description="OAuth2 scope; Dataverse: a `.default` scope (<endpoint origin>/.default)",
    )
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
            "customerid_account($select=name,emailaddress1,telephone1),"
            "Incident_Annotation($select=annotationid,subject,notetext,filename,mimetype,"
            "filesize,isdocument,createdon),"
            "Incident_IncidentResolutions($select=subject,actualend;$filter=statecode eq 1)"
        ),
        description=(
            "Dataverse: $expand on every incident read, so the mapping sees the customer"
            " (contact or account), the case's notes (annotations, without their file bodies)"
            " and its completed resolution."
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
    max_response_bytes: int = Field(
        default=DEFAULT_MAX_RESPONSE_BYTES,
        ge=1024,
        le=4 * 1024 * 1024 * 1024,
        description="Bytes in one CRM answer (a page, a document), enforced as it arrives on "
        "every path; raise it if the CRM stores larger files.",
    )
    search_result_cap: int | None = Field(
        default=None,
        ge=1,
        le=1_000_000,
        description="Lagan: the most results the FL server returns for one search, if known "
        "(its services.properties maximum). Unset, the connector learns it by probing; a "
        "search answer this large is never taken as complete.",
    )

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        # Imported here: the CRM subpackages that fill the registry import this module.
        from connector.factory import check_kind

        return check_kind(kind)

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


def check_private(path: Path, info: os.stat_result, *, setting: str) -> None:
    """Refuse a secrets file that anyone but its owner, the service user, could read.

    `info` is the `fstat` of the descriptor actually read, so the file checked is the file
    read. `setting` names where the path came from (`crm.secrets_file`), for the message.
    """
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SettingsError(
            f"{setting} {path} is readable by group or others "
            f"(mode {stat.filemode(info.st_mode)}); run `chmod 600 {path}`."
        )
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise SettingsError(
            f"{setting} {path} belongs to another user; it must be owned by the "
            "service user that runs Caseload."
        )


def read_private_file(path: Path, *, setting: str) -> str:
    """The text of a secrets file, after `check_private` on the very descriptor read."""
    try:
        with path.open("rb") as fh:
            check_private(path, os.fstat(fh.fileno()), setting=setting)
            return fh.read().decode("utf-8")
    except OSError as exc:
        raise SettingsError(f"{setting} {path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"{setting} {path}: not UTF-8 text") from None


def read_secrets_file(path: Path) -> dict[str, str]:
    """Read `password=...`/`client_secret=...` lines from a file only its owner can read."""
    text = read_private_file(path, setting="crm.secrets_file")
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


__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "SECRET_FIELDS",
    "AuthMode",
    "CRMSettings",
    "SettingsError",
    "check_private",
    "read_private_file",
    "read_secrets_file",
]
