"""`caseload serve`: the members' portal for production.

Thin: settings are read and checked here, everything else lives in `portal_extensions.web`.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape

from connector.settings import SettingsError
from portal_extensions.assembly import build_portal
from portal_extensions.config import (
    PortalSettings,
    PortalSettingsError,
    load_portal_settings,
)
from portal_extensions.runtime import Runtime
from portal_extensions.settings import StoreSettingsError, load_settings
from portal_extensions.store.engine import StoreError
from portal_extensions.web.assets import AssetsMissingError

err = Console(stderr=True)


def _config(config: Path | None) -> Path | None:
    if config is not None:
        return config
    env = os.environ.get("CASELOAD_CONFIG")
    if env:
        return Path(env)
    return Path("caseload.toml") if Path("caseload.toml").is_file() else None


def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="caseload.toml ([portal], [store]); default ./caseload.toml or $CASELOAD_CONFIG.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; behind the council's proxy, keep loopback.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    dispatch: Annotated[
        bool,
        typer.Option(
            help="Send queued writes to the CRM from this process (turn off where a separate "
            "`caseload outbox send` worker runs)."
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Portal worker processes (about one per CPU core). Sessions live in the store, "
            "so every worker knows every sign-in.",
        ),
    ] = 1,
) -> None:
    """Serve the members' portal (pages and JSON API) from the local store."""
    import uvicorn

    path = _config(config)
    try:
        portal, app, runtime = _assemble(path)
    except _SETTINGS_ERRORS as error:
        err.print(f"[red]caseload serve:[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(2) from None
    err.print(f"Caseload for {portal.council_name} on http://{host}:{port}/", highlight=False)
    # Client addresses are the socket's: the SSO proxy is recognised by its own address, so
    # X-Forwarded-For is never believed.
    stop = threading.Event()
    worker: threading.Thread | None = None
    if dispatch and runtime.settings.crm is not None:
        worker = threading.Thread(
            target=runtime.dispatcher().serve, args=(stop,), name="outbox-dispatcher", daemon=True
        )
        worker.start()
    target: FastAPI | str = app
    if workers > 1:
        # Each worker process assembles its own portal from the same configuration file.
        os.environ[_WORKER_CONFIG_ENV] = str(path.resolve()) if path else ""
        target = "cli.portal_cmd:worker_app"
    try:
        # No access log: addresses can carry residents' names (search words); the council's proxy
        # keeps its own request log under its own retention rules.
        uvicorn.run(
            target,
            host=host,
            port=port,
            workers=workers,
            factory=workers > 1,
            proxy_headers=False,
            server_header=False,
            access_log=False,
        )
    finally:
        stop.set()
        if worker is not None:
            worker.join(timeout=10)
        runtime.close()


_SETTINGS_ERRORS = (
    PortalSettingsError,
    StoreSettingsError,
    SettingsError,
    StoreError,
    AssetsMissingError,
)
_WORKER_CONFIG_ENV = "CASELOAD_SERVE_WORKER_CONFIG"


def _assemble(path: Path | None) -> tuple[PortalSettings, FastAPI, Runtime]:
    """The portal's settings, app and runtime (store and CRM client) from one config file."""
    portal = load_portal_settings(path)
    settings = load_settings(path, need_crm=False)
    runtime = Runtime(settings)
    client = runtime.client if settings.crm is not None else None
    mapping = runtime.mapping if client is not None else None
    return portal, build_portal(portal, runtime.store, client, mapping=mapping), runtime


def worker_app() -> FastAPI:
    """The app of one `serve --workers N` worker process (uvicorn calls this in each)."""
    named = os.environ.get(_WORKER_CONFIG_ENV, "")
    _portal, app, _runtime = _assemble(Path(named) if named else None)
    return app


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)


__all__ = ["register", "serve", "worker_app"]
