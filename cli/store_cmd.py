"""`caseload sync`, `caseload status`, `caseload outbox send` and `caseload directory import`.

Thin: every rule lives in `portal_extensions`; this module reads settings, shows progress and
turns failures into one readable line and a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from connector.errors import CRMError
from connector.settings import SettingsError
from mappings.errors import MappingError
from portal_extensions.directory import (
    DirectoryError,
    import_code_book,
    import_directory,
    read_directory_file,
)
from portal_extensions.runtime import Runtime
from portal_extensions.settings import StoreSettingsError, load_settings
from portal_extensions.status import collect_status
from portal_extensions.store.engine import StoreError

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="caseload.toml ([store], [crm]); default ./caseload.toml or $CASELOAD_CONFIG.",
    ),
]

directory_app = typer.Typer(
    help="Wards, members, parties, services and officers.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
outbox_app = typer.Typer(
    help="Writes waiting for the CRM.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
err = Console(stderr=True)
HANDLED = (
    CRMError,
    MappingError,
    SettingsError,
    StoreSettingsError,
    StoreError,
    DirectoryError,
)


def _config(config: Path | None) -> Path | None:
    if config is not None:
        return config
    env = os.environ.get("CASELOAD_CONFIG")
    if env:
        return Path(env)
    return Path("caseload.toml") if Path("caseload.toml").is_file() else None


def _runtime(config: Path | None, *, need_crm: bool) -> Runtime:
    return Runtime(load_settings(_config(config), need_crm=need_crm))


def _fail(exc: Exception) -> typer.Exit:
    # Escaped: messages hold TOML table names such as [crm], which rich would eat as markup.
    err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=1)


def sync(
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every case and reconcile deletions.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Bring the case index up to date with the CRM (changed cases since the last sync)."""
    try:
        runtime = _runtime(config, need_crm=True)
    except HANDLED as exc:
        raise _fail(exc) from None
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

                report = syncer.run(full=full, on_progress=advance)
        else:
            report = syncer.run(full=full)
    except HANDLED as exc:
        raise _fail(exc) from None
    finally:
        runtime.close()
    typer.echo(report.summary())


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Index size, last sync and watermark, outbox backlog by state, CRM health."""
    try:
        runtime = _runtime(config, need_crm=False)
    except HANDLED as exc:
        raise _fail(exc) from None
    try:
        client = runtime.client if runtime.settings.crm is not None else None
        report = collect_status(runtime.store, client)
    except HANDLED as exc:
        raise _fail(exc) from None
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
    else:
        for line in report.lines():
            typer.echo(line)
    if report.crm is not None and not report.crm.ok:
        raise typer.Exit(code=2)


@outbox_app.command("send")
def outbox_send(config: ConfigOption = None) -> None:
    """Send every queued write that is due to the CRM, then stop."""
    try:
        runtime = _runtime(config, need_crm=True)
        try:
            report = runtime.dispatcher().run_until_idle()
        finally:
            runtime.close()
    except HANDLED as exc:
        raise _fail(exc) from None
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
        runtime = _runtime(config, need_crm=False)
        try:
            report = import_directory(runtime.store, directory, actor="cli:directory-import")
        finally:
            runtime.close()
    except HANDLED as exc:
        raise _fail(exc) from None
    typer.echo(report.summary())


@directory_app.command("categories")
def directory_categories(config: ConfigOption = None) -> None:
    """Import the case categories from the CRM's code book."""
    try:
        runtime = _runtime(config, need_crm=True)
        try:
            count = import_code_book(runtime.store, runtime.categories(), actor="cli:code-book")
        finally:
            runtime.close()
    except HANDLED as exc:
        raise _fail(exc) from None
    typer.echo(f"imported {count} categories from the CRM code book")


def register(app: typer.Typer) -> None:
    """Add `sync` and `status` to the root app (sub-apps are added by the caller)."""
    app.command("sync")(sync)
    app.command("status")(status)


__all__ = ["directory_app", "outbox_app", "register", "status", "sync"]
