"""What every `caseload` command shares: the `--config` option, loading the configuration, and
failing with one readable line and a non-zero exit code.

Help texts are Rich markup (typer renders them with Rich), where `[store]` is a style tag and
vanishes: every help text that names a table goes through `escape`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from portal_extensions.config import Config, LogLevel, find_config, load_config
from portal_extensions.logs import configure_logging
from portal_extensions.runtime import Runtime

CONFIG_HELP = escape(
    "caseload.toml ([crm], [store], [portal], [worker], [logging], [reports]);"
    " default ./caseload.toml or $CASELOAD_CONFIG."
)
ConfigOption = Annotated[Path | None, typer.Option("--config", "-c", help=CONFIG_HELP)]
#: For the commands that read no caseload.toml (demo, sandbox): what `[logging] level` sets.
LogLevelOption = Annotated[
    LogLevel,
    typer.Option(
        "--log-level",
        case_sensitive=False,
        help="Log events at this level and above (on standard error).",
    ),
]

err = Console(stderr=True)


def fail(error: BaseException | str, *, code: int = 1, command: str = "error") -> typer.Exit:
    """Print `error` on standard error (escaped: messages name tables such as [crm]) and return
    the exit to raise."""
    err.print(
        f"[red]{escape(command)}:[/red] {escape(str(error))}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code=code)


def load(config: Path | None, *, need_crm: bool, need_portal: bool = False) -> Config:
    """The configuration from `--config`, `$CASELOAD_CONFIG` or ./caseload.toml, and the
    environment (`ConfigError` when anything is unknown, missing or invalid)."""
    return load_config(find_config(config), need_crm=need_crm, need_portal=need_portal)


def open_runtime(config: Path | None, *, need_crm: bool, long_running: bool = False) -> Runtime:
    """The runtime of a command; a long-running one also gets the configured logging."""
    loaded = load(config, need_crm=need_crm)
    if long_running:
        configure_logging(loaded.logging)
    return Runtime(loaded)


__all__ = ["CONFIG_HELP", "ConfigOption", "LogLevelOption", "err", "fail", "load", "open_runtime"]
