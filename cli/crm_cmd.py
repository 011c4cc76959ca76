"""`caseload crm`: check the CRM connection, list its operations, fetch one case."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import ConfigOption, fail, load
from connector import CRMClient, CRMError, CRMSettings, build_client, check_connection
from portal_extensions.config import ConfigError

app = typer.Typer(
    help="Check and inspect the council's CRM connection.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _settings(config: Path | None) -> CRMSettings:
    try:
        return load(config, need_crm=True).require_crm()
    except ConfigError as exc:
        raise fail(exc, code=2) from None


def _client(config: Path | None) -> CRMClient:
    try:
        return build_client(_settings(config), shared=False)
    except CRMError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def check(config: ConfigOption = None) -> None:
    """Probe allowlist, WSDL hash, DNS, TLS, auth and latency; exit 1 if any fails."""
    report = check_connection(_settings(config))
    for item in report.checks:
        mark = "ok  " if item.ok else "FAIL"
        typer.echo(f"{mark} {item.name:<10} {item.detail}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def operations(config: ConfigOption = None) -> None:
    """List the CRM's SOAP operations (Lagan) or entity sets (Dataverse)."""
    client = _client(config)
    try:
        for name in client.operations():
            typer.echo(name)
    except CRMError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()


@app.command()
def get(
    case_ref: Annotated[str, typer.Argument(help="The CRM's case reference.")],
    raw: Annotated[bool, typer.Option("--raw", help="Print the CRM's own record.")] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Mapping profile name or file.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Print one case: mapped to the caseload record by default, the raw CRM record on request."""
    client = _client(config)
    try:
        record = client.get_case(case_ref)
    except CRMError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        client.close()
    if raw:
        typer.echo(json.dumps(record, indent=2, ensure_ascii=False))
        return
    typer.echo(_mapped(record, profile or client.kind))


def _mapped(record: dict[str, Any], profile: str) -> str:
    from mappings import MappingError, load_profile

    try:
        case = load_profile(profile).to_caseload(record)
    except MappingError as exc:
        typer.echo(f"error: the case could not be mapped with profile {profile!r}: {exc}", err=True)
        raise typer.Exit(1) from None
    return case.model_dump_json(indent=2)
