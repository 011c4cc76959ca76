"""`caseload demo`: the portal on the embedded defaults (SQLite, sandbox CRM, demo council)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated

import typer

from cli.common import LogLevelOption
from portal_extensions.config import LoggingSettings
from portal_extensions.logs import configure_logging


def demo(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for the portal.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its store, sandbox CRM and sign-ins.")
    ] = Path("data/demo"),
    cases: Annotated[int, typer.Option(min=0, help="Cases seeded in the sandbox CRM.")] = 2000,
    seed: Annotated[int, typer.Option(help="Seed for the demo council.")] = 1,
    log_level: LogLevelOption = "INFO",
) -> None:
    """Start the sandbox CRM and the portal on loopback, seeded and synced; print the address."""
    import uvicorn

    from portal_extensions.config import PortalSettings
    from portal_extensions.demo import Demo
    from portal_extensions.runtime import build_portal

    configure_logging(LoggingSettings(level=log_level))
    typer.echo(f"Setting up the demo council in {data_dir} (first run seeds {cases} cases)...")
    council = Demo(data_dir, seed=seed, cases=cases)
    try:
        sign_ins = council.start()
        assert council.store is not None and council.runtime is not None
        assert council.worker is not None
        settings = PortalSettings(
            council_name=council.council_name,
            secret_key=secrets.token_urlsafe(48),  # sessions last for this run only
            https=False,
        )
        app = build_portal(
            settings,
            council.store,
            council.runtime.client,
            sync_interval=council.worker.sync_interval,
        )
        address = f"http://127.0.0.1:{port}/"
        typer.echo(council.first_sync)
        typer.echo(f"\nCaseload demo for {council.council_name}: open {address}")
        typer.echo("Sign in as:")
        for s in sign_ins:
            typer.echo(f"  {s.role:<17} {s.username:<17} {s.password}   ({s.who})")
        typer.echo(f"(also in {council.credentials_file}; Ctrl-C stops the demo)\n")
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            proxy_headers=False,
            server_header=False,
            access_log=False,
            log_config=None,
        )
    finally:
        council.stop()


def register(app: typer.Typer) -> None:
    """Add `demo` to the root app."""
    app.command("demo")(demo)
