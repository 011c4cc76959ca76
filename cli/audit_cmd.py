"""`caseload audit show --case REF`: who did what to a case, for whom, when, and the outcome.

Thin: the query lives in `portal_extensions.store.audit_report`; this module parses the
filters, prints identifiers only (never case content) and records that the audit trail was
read.
"""

from __future__ import annotations

import getpass
import json
from datetime import date, datetime, time, timedelta
from typing import Annotated

import typer

from cli.common import ConfigOption, fail, open_runtime
from mappings.model import COUNCIL_ZONE
from portal_extensions.config import ConfigError
from portal_extensions.store import record_event
from portal_extensions.store.audit_report import DEFAULT_LIMIT, CaseAudit, case_audit
from portal_extensions.store.engine import StoreError

app = typer.Typer(
    help="The audit trail: who viewed, searched, created, changed or exported what.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
HANDLED = (ConfigError, StoreError)

#: Who reads the audit trail is itself audited under this actor.
READER_ACTOR = "cli:audit-show"


class TimeFilterError(ValueError):
    """A --since or --until value is not a date or a time."""


def parse_moment(value: str, *, option: str, end_of_day: bool) -> datetime:
    """`2026-11-01`, `2026-11-01T09:30` or `2026-11-01T09:30:00+00:00` as an aware time.

    A time without an offset is the council's local time (what a person in the council means);
    a bare date is the start of that day, or its end for --until, so both bounds include it.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                moment = datetime.combine(day + timedelta(days=1), time(0)) - timedelta(
                    microseconds=1
                )
            else:
                moment = datetime.combine(day, time(0))
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise TimeFilterError(
            f"{option} {value!r} is not a date or time: use 2026-11-01, 2026-11-01T09:30 or "
            "2026-11-01T09:30:00+00:00 (times without an offset are UK local time)"
        ) from None
    return moment.replace(tzinfo=COUNCIL_ZONE) if moment.tzinfo is None else moment


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        return "(unknown)"


def _table(report: CaseAudit) -> list[str]:
    """Fixed-width lines (not a rich table: those wrap on narrow terminals and in pipes)."""
    header = ("Time (UK)", "Who", "For whom", "Action", "Case", "Outcome")
    rows = [
        (
            event.at.astimezone(COUNCIL_ZONE).strftime("%Y-%m-%d %H:%M:%S %Z"),
            event.actor,
            event.on_behalf_of or "-",
            event.action,
            event.case,
            event.outcome or "-",
        )
        for event in report.events
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]


def _title(report: CaseAudit) -> str:
    names = [f"portal id {report.portal_id}"] if report.portal_id else []
    if report.crm_reference:
        names.append(f"CRM reference {report.crm_reference}")
    where = "" if report.in_index else " (not in the case index; matched the reference as typed)"
    return f"Audit trail of case {', '.join(names)}{where}"


@app.command("show")
def show(
    case: Annotated[str, typer.Option("--case", help="The case's portal id or CRM reference.")],
    user: Annotated[
        str | None,
        typer.Option("--user", help="Only events by this user, or done on this member's behalf."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From this date or time (UK time unless an offset is given)."),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", help="Up to this date (the whole day) or time."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            "--action",
            help="Only this action, or actions under a dotted prefix (`outbox`); repeatable.",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="Show at most this many events.")
    ] = DEFAULT_LIMIT,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    config: ConfigOption = None,
) -> None:
    """Who did what to a case, for whom, when, and the outcome (never the case's content)."""
    try:
        since_at = parse_moment(since, option="--since", end_of_day=False) if since else None
        until_at = parse_moment(until, option="--until", end_of_day=True) if until else None
    except TimeFilterError as error:
        raise fail(str(error)) from None
    if since_at is not None and until_at is not None and since_at > until_at:
        raise fail(f"--since {since} is after --until {until}: nothing can match")
    try:
        runtime = open_runtime(config, need_crm=False)
    except HANDLED as error:
        raise fail(str(error)) from None
    try:
        with runtime.store.write() as conn:
            report = case_audit(
                conn,
                case,
                user=user,
                since=since_at,
                until=until_at,
                actions=action or (),
                limit=limit,
            )
            # Reading the audit trail is itself an auditable act.
            record_event(
                conn,
                actor=READER_ACTOR,
                action="audit.viewed",
                subject_type="audit",
                subject_id=report.portal_id or report.crm_reference,
                detail={"os_user": _os_user(), "events": len(report.events)},
            )
    except HANDLED as error:
        raise fail(str(error)) from None
    finally:
        runtime.close()
    if as_json:
        typer.echo(json.dumps(report.model_dump(mode="json"), indent=2))
        return
    typer.echo(_title(report))
    if not report.events:
        typer.echo("No audit events match.")
        return
    for line in _table(report):
        typer.echo(line)
    more = " (more match: narrow the filters or raise --limit)" if report.truncated else ""
    typer.echo(f"{len(report.events)} event{'s' if len(report.events) != 1 else ''}{more}")


__all__ = ["app", "parse_moment", "show"]
