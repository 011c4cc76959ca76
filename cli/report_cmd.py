"""`caseload report volumes|timeliness|scrutiny`: the Reports page's figures and the scrutiny
report from the command line, for Members' Services and scheduled runs.

Thin: the figures are `portal_extensions.reports`' and are computed for the account named by
`--as` through the same access policy as the portal (a scheduled run uses an account with the
team leader's or Members' Services' role). The run is recorded in the audit trail.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import ConfigOption, fail, load
from portal_extensions.config import ConfigError
from portal_extensions.reports.document import PdfUnavailable, scrutiny_html, scrutiny_pdf
from portal_extensions.reports.exports import table_csv, workbook
from portal_extensions.reports.figures import period_text
from portal_extensions.reports.filters import FilterError
from portal_extensions.reports.service import ReportRefused, ScrutinyReport
from portal_extensions.reports.tables import Table, text
from portal_extensions.runtime import Runtime, reports_for
from portal_extensions.store import record_event
from portal_extensions.store.accounts import StoreAccounts
from portal_extensions.store.engine import StoreError


class Kind(StrEnum):
    VOLUMES = "volumes"
    TIMELINESS = "timeliness"
    SCRUTINY = "scrutiny"


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    XLSX = "xlsx"
    HTML = "html"
    PDF = "pdf"


HANDLED = (ConfigError, StoreError)
BINARY = {Format.XLSX, Format.PDF}
DOCUMENT_ONLY = {Format.HTML, Format.PDF}
ACTOR = "cli:report"
TIMELINESS = "timeliness-by-service"


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "(unknown)"


def lines(table: Table) -> list[str]:
    """A table as fixed-width lines (wraps nowhere, survives pipes and logs)."""
    rows = [
        tuple(table.headings),
        *[tuple(text(value) for value in row) for row in table.rows],
        *([tuple(text(value) for value in table.total)] if table.total is not None else []),
    ]
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _write(out: Path | None, body: str | bytes) -> None:
    if out is None:
        if isinstance(body, bytes):
            sys.stdout.buffer.write(body)
        else:
            typer.echo(body, nl=False)
        return
    try:
        if isinstance(body, bytes):
            out.write_bytes(body)
        else:
            out.write_text(body, encoding="utf-8")
    except OSError as error:
        raise fail(f"cannot write {out}: {error.strerror}") from None


def register(app: typer.Typer) -> None:
    @app.command("report")
    def report(
        kind: Annotated[Kind, typer.Argument(help="volumes, timeliness or scrutiny.")],
        username: Annotated[
            str,
            typer.Option(
                "--as",
                help="The account whose access the figures follow (e.g. a team leader's).",
            ),
        ],
        start: Annotated[
            str | None,
            typer.Option(
                "--from",
                help="First day, YYYY-MM-DD (default: 12 months back; scrutiny: the last"
                " complete half-year).",
            ),
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")
        ] = None,
        output: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
        out: Annotated[
            Path | None, typer.Option("--out", help="Write to this file (xlsx and pdf need it).")
        ] = None,
        table_key: Annotated[
            str | None,
            typer.Option("--table", help="CSV of this table only (e.g. volumes-by-ward)."),
        ] = None,
        ward: Annotated[str | None, typer.Option("--ward", help="Only this ward (id).")] = None,
        member: Annotated[
            str | None, typer.Option("--member", help="Only this councillor (id).")
        ] = None,
        service: Annotated[
            str | None, typer.Option("--service", help="Only this service (id).")
        ] = None,
        category: Annotated[
            str | None, typer.Option("--category", help="Only this category (code).")
        ] = None,
        channel: Annotated[
            str | None, typer.Option("--channel", help="Only enquiries that came in this way.")
        ] = None,
        raised_by: Annotated[
            str | None,
            typer.Option("--raised-by", help="councillor, mp, msp, ms, mep or staff."),
        ] = None,
        internal: Annotated[
            bool,
            typer.Option("--internal", help="Scrutiny: show small counts (not for publication)."),
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Report volumes, timeliness or the six-monthly scrutiny report."""
        if output in DOCUMENT_ONLY and kind is not Kind.SCRUTINY:
            raise fail(
                f"--format {output.value} is for the scrutiny report; use table, csv or xlsx"
            )
        if output in BINARY and out is None:
            raise fail(f"--format {output.value} needs --out FILE")
        if kind is Kind.SCRUTINY and any((ward, member, service, category, channel, raised_by)):
            raise fail("the scrutiny report covers the whole period: it takes no filters")
        values = {
            "from": start,
            "to": end,
            "ward": ward,
            "member": member,
            "service": service,
            "category": category,
            "channel": channel,
            "raised_by": raised_by,
        }
        try:
            loaded = load(config, need_crm=False, need_portal=True)
            runtime = Runtime(loaded)
        except HANDLED as error:
            raise fail(str(error)) from None
        try:
            account = StoreAccounts(runtime.store).by_username(username)
            if account is None:
                raise fail(f"no active account {username!r}: see `caseload users list`")
            viewer = account.viewer
            reports = reports_for(runtime.store, loaded.require_portal(), loaded.reports)
            now = datetime.now(UTC)
            scrutiny = kind is Kind.SCRUTINY
            query = reports.query(viewer, values, now, scrutiny=scrutiny)
            document: ScrutinyReport | None = None
            if scrutiny:
                document = reports.scrutiny(viewer, query, now, published=not internal)
                tables = document.tables
                heading = document.heading
            else:
                found = reports.report(viewer, query, now)
                timeliness = kind is Kind.TIMELINESS
                tables = tuple(t for t in found.all_tables if (t.key == TIMELINESS) == timeliness)
                heading = [f"Caseload {kind.value}: {period_text(query)}", f"Covers {found.scope}"]
            with runtime.store.write() as conn:
                record_event(
                    conn,
                    actor=ACTOR,
                    action="report.exported",
                    subject_type="report",
                    subject_id=kind.value,
                    detail={
                        "as": username,
                        "os_user": _os_user(),
                        "format": output.value,
                        "from": query.start.isoformat(),
                        "to": query.end.isoformat(),
                    },
                )
        except FilterError as error:
            raise fail(str(error)) from None
        except ReportRefused as error:
            raise fail(f"{username} has no {kind.value} report ({error})") from None
        except HANDLED as error:
            raise fail(str(error)) from None
        finally:
            runtime.close()
        if table_key is not None:
            tables = tuple(t for t in tables if t.key == table_key)
            if not tables:
                raise fail(f"no table {table_key!r} in this report")
        if output is Format.TABLE:
            body = "\n".join(heading) + "\n"
            for table in tables:
                body += "\n" + "\n".join([table.title, *lines(table)]) + "\n"
            _write(out, body)
        elif output is Format.CSV:
            if len(tables) == 1:
                _write(out, table_csv(tables[0]))
            else:
                _write(out, "\r\n".join(f"{t.title}\r\n{table_csv(t)}" for t in tables))
        elif output is Format.XLSX:
            _write(out, workbook(tables, heading))
        elif document is None:  # refused above: html and pdf are the scrutiny report's
            raise fail(f"--format {output.value} is for the scrutiny report")
        elif output is Format.HTML:
            _write(out, scrutiny_html(document))
        else:
            try:
                _write(out, scrutiny_pdf(document))
            except PdfUnavailable as error:
                raise fail(str(error)) from None


__all__ = ["Format", "Kind", "lines", "register"]
