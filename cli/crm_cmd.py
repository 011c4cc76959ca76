"""`caseload crm`: placeholder until its issue lands."""

from __future__ import annotations

import typer

app = typer.Typer(help="crm commands", no_args_is_help=True, pretty_exceptions_show_locals=False)
