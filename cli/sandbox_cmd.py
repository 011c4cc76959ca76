"""`caseload sandbox`: placeholder until its issue lands."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="sandbox commands", no_args_is_help=True, pretty_exceptions_show_locals=False
)
