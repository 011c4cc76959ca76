"""`caseload worker`: the background loop on its own (sync on an interval, queued writes to the
CRM, pushed case refreshes), for hosts where `caseload serve --no-worker` serves the portal.

Thin: the loop is `portal_extensions.jobs.worker.Worker`, built by the runtime from `[worker]`.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Annotated

import typer

from cli.common import ConfigOption, fail, open_runtime
from cli.store_cmd import HANDLED


def worker(
    once: Annotated[
        bool,
        typer.Option("--once", help="Run one round (refreshes, one outbox pass, a sync) and stop."),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Run the background worker until stopped (SIGTERM or Ctrl-C finish the round in hand)."""
    try:
        runtime = open_runtime(config, need_crm=True, long_running=True)
    except HANDLED as exc:
        raise fail(exc) from None
    try:
        loop = runtime.worker()
        if once:
            report = loop.run_once()
            typer.echo(report.sync.summary() if report.sync is not None else "no sync this round")
            typer.echo(f"outbox: {report.dispatched} writes handled")
            if report.errors:
                raise fail("; ".join(report.errors))
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            loop.run_forever(stop)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    except HANDLED as exc:
        raise fail(exc) from None
    finally:
        runtime.close()


def register(app: typer.Typer) -> None:
    """Add `worker` to the root app."""
    app.command("worker")(worker)


__all__ = ["register", "worker"]
