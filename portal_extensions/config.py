"""What an operator may tune about the portal's web front, with safe defaults.

Loaded by the CLI from `caseload.toml` or the environment; secrets arrive as `SecretStr` and are
never printed. `extra="forbid"` so a misspelt setting fails loudly instead of being ignored.
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
GOVUK_FRONTEND_VERSION = "6.3.0"  # the release govuk-frontend-jinja 4.1.0 targets


class SignInMode(StrEnum):
    LOCAL = "local"  # accounts with argon2 password hashes, held by Caseload
    TRUSTED_HEADER = "trusted_header"  # the council's single sign-on proxy names the user


class PortalSettings(BaseModel):
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
    session_max_age_seconds: Annotated[int, Field(ge=300, le=7 * 24 * 3600)] = 8 * 3600
    failed_sign_in_limit: Annotated[int, Field(ge=1, le=100)] = 5
    failed_sign_in_limit_per_address: Annotated[int, Field(ge=1, le=1000)] = 20
    failed_sign_in_window_seconds: Annotated[int, Field(ge=10, le=24 * 3600)] = 15 * 60
    govuk_frontend_dir: Path = REPO_ROOT / "node_modules" / "govuk-frontend"
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

    @field_validator("trusted_proxies", mode="before")
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
        if host is None:
            return False
        try:
            address = ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


SECRET_ENV = "CASELOAD_PORTAL_SECRET_KEY"  # noqa: S105 (the variable's name, not a secret)


class PortalSettingsError(ValueError):
    """The [portal] configuration is invalid; the message names the key and the fix."""


def load_portal_settings(
    config: Path | None, environ: Mapping[str, str] | None = None
) -> PortalSettings:
    """`[portal]` from caseload.toml, with the session secret from the environment or a file.

    The secret never lives in the TOML: `CASELOAD_PORTAL_SECRET_KEY`, or `secret_key_file`
    naming a file only the service user can read.
    """
    environ = os.environ if environ is None else environ
    table: dict[str, Any] = {}
    source = "the environment"
    if config is not None:
        source = str(config)
        try:
            with config.open("rb") as handle:
                document = tomllib.load(handle)
        except FileNotFoundError:
            raise PortalSettingsError(f"{config}: no such configuration file") from None
        except tomllib.TOMLDecodeError as error:
            raise PortalSettingsError(f"{config}: not valid TOML ({error})") from None
        portal = document.get("portal", {})
        if not isinstance(portal, dict):
            raise PortalSettingsError(f"{config}: [portal] must be a table")
        table.update(portal)
    if "secret_key" in table:
        raise PortalSettingsError(
            f"{source}: portal.secret_key must not be in the TOML file; set {SECRET_ENV} in the"
            " service's environment or name a file with portal.secret_key_file"
        )
    secret_file = table.pop("secret_key_file", None)
    if environ.get(SECRET_ENV):
        table["secret_key"] = environ[SECRET_ENV]
    elif secret_file:
        path = Path(str(secret_file))
        try:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise PortalSettingsError(
                    f"{path}: the portal secret file is readable by other users;"
                    f" run `chmod 600 {path}`"
                )
            table["secret_key"] = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise PortalSettingsError(
                f"{path}: cannot read the portal secret file ({error.strerror})"
            ) from None
    else:
        raise PortalSettingsError(
            f"no session secret: set {SECRET_ENV} (at least 32 random characters) or"
            " portal.secret_key_file in caseload.toml"
        )
    try:
        return PortalSettings.model_validate(table)
    except ValidationError as error:
        problems = [
            f"  portal.{'.'.join(str(p) for p in e['loc']) or '(table)'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False)
        ]
        raise PortalSettingsError(
            f"invalid portal settings in {source}:\n" + "\n".join(problems)
        ) from None
