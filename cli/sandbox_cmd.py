"""`caseload sandbox`: run the sandbox CRM (Lagan SOAP + Dataverse REST) on loopback.

`caseload sandbox [--host 127.0.0.1] [--port 8088] [--seed 1] [--cases 2000] [--db FILE]
[--faults SPEC] [--auth any|wsse|token|basic] [--push-url URL] [--fl-build published|later]
[--fl-unknown refuse|ignore] [--search-cap 100] [--log-level INFO]` prints the
endpoints and the credentials, serves until Ctrl-C and then stops cleanly. `caseload sandbox
directory` prints the seeded council's directory as JSON (for the portal demo).
"""

from __future__ import annotations

import ipaddress
import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import LogLevelOption
from portal_extensions.config import LoggingSettings
from portal_extensions.logs import configure_logging

app = typer.Typer(
    help="Run the sandbox CRM: a Lagan-style SOAP and Dataverse-style REST CRM with a "
    "seeded fictional council.",
    invoke_without_command=True,
    pretty_exceptions_show_locals=False,
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind; loopback unless told otherwise.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 = any free).")] = 8088,
    seed: Annotated[int, typer.Option(help="Seed for the council data and the faults.")] = 1,
    cases: Annotated[int, typer.Option(min=0, help="Number of seeded cases.")] = 2000,
    db: Annotated[
        Path | None, typer.Option(help="SQLite file to keep the records in (reused if present).")
    ] = None,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Fault spec, e.g. 'createCase:lose_response=0.3;*:latency=50ms' "
            "(see connector/sandbox/faults.py)."
        ),
    ] = None,
    auth: Annotated[
        str, typer.Option(help="FL auth style: any, wsse, token (FLAuth) or basic.")
    ] = "any",
    push_url: Annotated[
        str | None, typer.Option(help="POST Lagan case event XML here when a case changes.")
    ] = None,
    fl_build: Annotated[
        str,
        typer.Option(
            help="FL build: published (the published WSDL) or later (FWTCaseSearch adds "
            "LastModifiedDateFrom/To)."
        ),
    ] = "published",
    fl_unknown: Annotated[
        str,
        typer.Option(
            help="Request elements the build lacks: refuse (as Apache Axis does) or ignore."
        ),
    ] = "refuse",
    search_cap: Annotated[
        int, typer.Option(min=1, help="Most results one FL search returns, whatever is asked.")
    ] = 100,
    log_level: LogLevelOption = "INFO",
) -> None:
    """Serve the sandbox CRM until Ctrl-C."""
    if ctx.invoked_subcommand is not None:
        return
    configure_logging(LoggingSettings(level=log_level))
    from connector.sandbox.crm import SandboxCRM
    from connector.sandbox.faults import FaultSpecError

    if auth not in ("any", "wsse", "token", "basic"):
        raise typer.BadParameter("--auth must be any, wsse, token or basic")
    if fl_build not in ("published", "later"):
        raise typer.BadParameter("--fl-build must be published or later")
    if fl_unknown not in ("refuse", "ignore"):
        raise typer.BadParameter("--fl-unknown must be refuse or ignore")
    if not _is_loopback(host):
        typer.echo(
            f"warning: binding {host}, which is not loopback: the sandbox has fixed "
            "test credentials; expose it only on a network you trust.",
            err=True,
        )
    try:
        started = time.perf_counter()
        crm = SandboxCRM(
            seed=seed,
            cases=cases,
            db=db,
            faults=faults,
            auth_style=auth,  # type: ignore[arg-type]
            push_url=push_url,
            fl_build=fl_build,  # type: ignore[arg-type]
            fl_unknown=fl_unknown,  # type: ignore[arg-type]
            search_cap=search_cap,
        )
    except FaultSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from None
    seeded = time.perf_counter() - started
    try:
        url = crm.start(host, port)
    except OSError as exc:
        typer.echo(
            f"error: cannot listen on {host}:{port} ({exc.strerror}); "
            "choose another --port or stop what is using it.",
            err=True,
        )
        raise typer.Exit(1) from None
    counts = crm.store.counts()
    typer.echo(
        f"Caseload sandbox CRM for {crm.directory().get('council', '?')} "
        f"(seed {seed}, {counts['cases']} cases, {counts['parties']} parties, "
        f"ready in {seeded:.1f}s)"
    )
    for name, value in crm.endpoints(url).items():
        typer.echo(f"  {name:<12} {value}")
    a = crm.auth
    typer.echo(f"  FL auth style {a.style}: user {a.username!r} password {a.password!r}")
    typer.echo(
        f"  OAuth2 client_credentials: client_id {a.client_id!r} client_secret {a.client_secret!r}"
    )
    fl = crm.lagan
    typer.echo(
        f"  FL build {fl.build}, unknown request elements {fl.unknown}d, "
        f"at most {fl.search_cap} results per search"
    )
    typer.echo(f"  faults: {crm.faults.describe()}")
    if db is not None:
        typer.echo(f"  records kept in {db}")
    typer.echo("Press Ctrl-C to stop.")
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        crm.stop()
        crm.store.close()
        typer.echo(f"sandbox stopped ({len(crm.faults.events)} faults injected).")


@app.command("directory")
def directory(
    seed: Annotated[int, typer.Option(help="Seed for the council data.")] = 1,
) -> None:
    """Print the seeded council's wards, members, services and officers as JSON."""
    from connector.sandbox.crm import SandboxCRM

    crm = SandboxCRM(seed=seed, cases=0)
    data: dict[str, Any] = crm.directory()
    typer.echo(json.dumps(data, indent=2))
