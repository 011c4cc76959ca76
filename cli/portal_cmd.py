"""`caseload serve`: the members' portal for production, with the background worker beside it.

Thin: the configuration is read and checked here, everything is built by
`portal_extensions.runtime`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from fastapi import FastAPI

from cli.common import CONFIG_HELP, fail
from connector.errors import CRMError
from portal_extensions.config import ConfigError, find_config, load_config
from portal_extensions.jobs.worker import Worker
from portal_extensions.logs import configure_logging
from portal_extensions.runtime import Runtime
from portal_extensions.store.engine import StoreError
from portal_extensions.web.assets import AssetsMissingError

log = logging.getLogger(__name__)

_SETTINGS_ERRORS = (ConfigError, CRMError, StoreError, AssetsMissingError)
#: Tells each `serve --workers N` process which configuration file the parent read.
_WORKER_CONFIG_ENV = "CASELOAD_SERVE_WORKER_CONFIG"


def serve(
    config: Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; behind the council's proxy, keep loopback.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    worker: Annotated[
        bool,
        typer.Option(
            help="Run the background worker in this process: sync on an interval, queued writes"
            " to the CRM and pushed case events (turn off where `caseload worker` runs it).",
        ),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Portal worker processes (about one per CPU core). Sessions live in the store, "
            "so every process knows every sign-in.",
        ),
    ] = 1,
) -> None:
    """Serve the members' portal (pages and JSON API) from the local store."""
    import uvicorn

    path = find_config(config)
    try:
        settings = load_config(path, need_crm=False, need_portal=True)
        configure_logging(settings.logging)
        runtime = Runtime(settings)
    except _SETTINGS_ERRORS as error:
        raise fail(error, code=2, command="caseload serve") from None
    background: Worker | None = None
    try:
        try:
            if worker and runtime.has_crm:
                background = runtime.worker()
            elif worker:
                log.warning("no CRM is configured ([crm]): no sync, outbox or case events")
            # Pushed case events are queued on this process's worker when it serves alone;
            # otherwise each portal process refreshes them itself (`Runtime.portal_app`).
            app = runtime.portal_app(worker=background if workers == 1 else None)
        except _SETTINGS_ERRORS as error:
            raise fail(error, code=2, command="caseload serve") from None
        portal = settings.require_portal()
        log.info("Caseload for %s on http://%s:%d/", portal.council_name, host, port)
        target: FastAPI | str = app
        if workers > 1:
            # Each worker process assembles its own portal from the same configuration file.
            os.environ[_WORKER_CONFIG_ENV] = str(path.resolve()) if path else ""
            target = "cli.portal_cmd:worker_app"
        if background is not None:
            background.start_in_thread()
        # Client addresses are the socket's: the SSO proxy is recognised by its own address, so
        # X-Forwarded-For is never believed. No access log: addresses can carry residents' names
        # (search words); the council's proxy keeps its own request log under its own rules.
        # log_config=None: uvicorn's own messages go through the logging configured above.
        uvicorn.run(
            target,
            host=host,
            port=port,
            workers=workers,
            factory=workers > 1,
            proxy_headers=False,
            server_header=False,
            access_log=False,
            log_config=None,
        )
    finally:
        if background is not None:
            background.stop()
        runtime.close()


def worker_app() -> FastAPI:
    """The app of one `serve --workers N` process (uvicorn calls this in each): the portal
    alone, since the parent process runs the worker."""
    named = os.environ.get(_WORKER_CONFIG_ENV, "")
    settings = load_config(Path(named) if named else None, need_crm=False, need_portal=True)
    configure_logging(settings.logging)
    return Runtime(settings).portal_app()


def register(app: typer.Typer) -> None:
    """Add `serve` to the root app."""
    app.command("serve")(serve)


__all__ = ["register", "serve", "worker_app"]
