"""Root of the `caseload` command: one typer app with a sub-app per area."""

from __future__ import annotations

import typer

from cli import (
    audit_cmd,
    crm_cmd,
    demo_cmd,
    mappings_cmd,
    portal_cmd,
    report_cmd,
    sandbox_cmd,
    store_cmd,
    users_cmd,
    worker_cmd,
)

# Locals are never shown in tracebacks: they may hold credentials or constituents' data.
app = typer.Typer(
    name="caseload",
    help="Caseload: councillors' casework on top of the council's CRM.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)
app.add_typer(mappings_cmd.app, name="mappings")
app.add_typer(sandbox_cmd.app, name="sandbox")
app.add_typer(crm_cmd.app, name="crm")
app.add_typer(store_cmd.directory_app, name="directory")
app.add_typer(store_cmd.outbox_app, name="outbox")
app.add_typer(users_cmd.app, name="users")
app.add_typer(audit_cmd.app, name="audit")
store_cmd.register(app)  # sync, status, migrate
portal_cmd.register(app)  # serve
worker_cmd.register(app)
demo_cmd.register(app)
report_cmd.register(app)  # report volumes|timeliness|scrutiny


if __name__ == "__main__":  # pragma: no cover
    app()
