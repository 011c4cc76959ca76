"""`caseload sync`, `caseload status`, `caseload migrate`, `caseload outbox send` and
`caseload directory import`.

Thin: every rule lives in `portal_extensions`; this module reads settings, shows progress and
turns failures into one readable line and a non-zero exit code.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli.common import ConfigOption, fail, load, open_runtime
from connector.errors import CRMError
from mappings.errors import MappingError
from portal_extensions.casework.status import collect_status
from portal_extensions.config import ConfigError
from portal_extensions.directory import (
    DirectoryError,
    import_code_book,
    import_directory,
    read_directory_file,
)
from portal_extensions.jobs.worker import locked_sync
from portal_extensions.logs import configure_logging
from portal_extensions.store.engine import StoreError, current_revision, make_engine, migrate

directory_app = typer.Typer(
    help="Wards, members, parties, services and officers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
outbox_app = typer.Typer(
    help="Writes waiting for the CRM.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
#: How long `caseload sync` waits for a worker's sync of the same store to finish.
SYNC_LOCK_WAIT = timedelta(minutes=10)
HANDLED = (
    CRMError,
    MappingError,
    ConfigError,
    StoreError,
    DirectoryError,
)


def sync(
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every case and reconcile deletions.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Bring the case index up to date with the CRM (changed cases since the last sync)."""
    try:
        runtime = open_runtime(config, need_crm=True, long_running=True)
    except HANDLED as exc:
        raise fail(exc) from None
    started = time.perf_counter()
    try:
        syncer = runtime.syncer()
        if sys.stdout.isatty():
            columns = (
                SpinnerColumn(),
                TextColumn("syncing"),
                BarColumn(),
                TextColumn("{task.completed} cases"),
                TextColumn("{task.fields[rate]:.0f}/s"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, transient=True) as progress:
                task = progress.add_task("sync", total=None, rate=0.0)

                def advance(count: int) -> None:
                    done = progress.tasks[0].completed + count
                    rate = done / max(time.perf_counter() - started, 1e-6)
                    progress.update(task, advance=count, rate=rate)

                report = locked_sync(
                    runtime.store, syncer, full=full, on_progress=advance, wait=SYNC_LOCK_WAIT
                )
        else:
            report = locked_sync(runtime.store, syncer, full=full, wait=SYNC_LOCK_WAIT)
    except HANDLED as exc:
        raise fail(exc) from None
    finally:
        runtime.close()
    if report is None:  # a worker's sync held the store's sync lock all that time
        raise fail("another sync of this store has been running for 10 minutes; try again later")
    typer.echo(report.summary())
    if report.unmapped:  # the index is missing cases the CRM has: not a success
        raise fail(
            f"{report.unmapped} CRM cases could not be mapped and are not in the index; "
            "`caseload status` lists them with the field at fault: fix the mapping profile "
            "(`caseload mappings validate`) or the records, then run `caseload sync --full`",
            command="sync",
        )


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Index size, last sync and watermark, outbox backlog by state, CRM health."""
    try:
        runtime = open_runtime(config, need_crm=False)
    except HANDLED as exc:
        raise fail(exc) from None
    try:
        client = runtime.client if runtime.has_crm else None
        report = collect_status(runtime.store, client)
    except HANDLED as exc:
        raise fail(exc) from None
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    if report.crm is not None and not report.crm.ok:
        raise typer.Exit(code=2)


def migrate_command(config: ConfigOption = None) -> None:
    """Bring the store's schema up to date (also done on every start; safe to run anywhere)."""
    try:
        settings = load(config, need_crm=False)
        configure_logging(settings.logging)
        engine = make_engine(
            settings.store.url, busy_timeout_ms=settings.store.sqlite_busy_timeout_ms
        )
        try:
            before = current_revision(engine)
            migrate(engine)
            after = current_revision(engine)
        finally:
            engine.dispose()
    except HANDLED as exc:
        raise fail(exc) from None
    if before == after:
        typer.echo(f"the store is up to date (revision {after})")
    else:
        typer.echo(f"the store was migrated from revision {before or 'none'} to {after}")


@outbox_app.command("send")
def outbox_send(config: ConfigOption = None) -> None:
    """Send every queued write that is due to the CRM, then stop."""
    try:
        runtime = open_runtime(config, need_crm=True, long_running=True)
        try:
            report = runtime.dispatcher().run_until_idle()
        finally:
            runtime.close()
    except HANDLED as exc:
        raise fail(exc) from None
    typer.echo(
        f"confirmed {report.confirmed}, retry later {report.retried}, "
        f"needs attention {report.needs_attention}"
    )


@directory_app.command("import")
def directory_import(
    file: Annotated[Path, typer.Argument(help="YAML or CSV directory file.")],
    config: ConfigOption = None,
) -> None:
    """Import wards, parties, members, services and officers (insert or update)."""
    try:
        directory = read_directory_file(file)
        runtime = open_runtime(config, need_crm=False)
        try:
            report = import_directory(runtime.store, directory, actor="cli:directory-import")
        finally:
            runtime.close()
    except HANDLED as exc:
        raise fail(exc) from None
    typer.echo(report.summary())


@directory_app.command("categories")
def directory_categories(config: ConfigOption = None) -> None:
    """Import the case categories from the CRM's code book."""
    try:
        runtime = open_runtime(config, need_crm=True)
        try:
            count = import_code_book(runtime.store, runtime.categories(), actor="cli:code-book")
        finally:
            runtime.close()
    except HANDLED as exc:
        raise fail(exc) from None
    typer.echo(f"imported {count} categories from the CRM code book")


def register(app: typer.Typer) -> None:
    """Add `sync`, `status` and `migrate` to the root app (sub-apps are added by the caller)."""
    app.command("sync")(sync)
    app.command("status")(status)
    app.command("migrate")(migrate_command)


__all__ = [
    "HANDLED",
    "directory_app",
    "migrate_command",
    "outbox_app",
    "register",
    "status",
    "sync",
]
