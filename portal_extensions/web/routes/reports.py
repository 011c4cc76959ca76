"""Reports: the Reports page (volumes, trend, timeliness) and the six-monthly scrutiny report,
each beside its JSON endpoint and its files (CSV per table, XLSX, and for scrutiny the
printable HTML and PDF). The figures are `reports.Reports`' for the signed-in viewer; this
module only reads the query string and shows them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from portal_extensions.access import Page, Viewer
from portal_extensions.reports.charts import render as render_chart
from portal_extensions.reports.document import (
    STYLESHEET,
    PdfUnavailable,
    scrutiny_html,
    scrutiny_pdf,
)
from portal_extensions.reports.exports import table_csv, workbook
from portal_extensions.reports.figures import long_date, period_text
from portal_extensions.reports.filters import FILTER_FIELDS, FilterChoices, FilterError
from portal_extensions.reports.service import Report, ScrutinyReport
from portal_extensions.reports.tables import Table, text
from portal_extensions.store.audit import Outcome
from portal_extensions.store.reports import ReportQuery
from portal_extensions.web.deps import Portal, PortalDep, ViewerDep
from portal_extensions.web.guard import allow, api_router, page_router
from portal_extensions.web.pages_common import message_page, render
from portal_extensions.web.refusals import NotFound

page = page_router()
api = api_router()

QUERY_FIELDS = ("from", "to", *FILTER_FIELDS)
FIELD_LABELS = {
    "from": "From",
    "to": "To",
    "ward": "Ward",
    "member": "Councillor",
    "service": "Service",
    "category": "Category",
    "channel": "How it came in",
    "raised_by": "Raised by",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _asked(request: Request, fields: tuple[str, ...] = QUERY_FIELDS) -> dict[str, str | None]:
    return {name: request.query_params.get(name) for name in fields}


def _attachment(body: bytes | str, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _audit(request: Request, portal: Portal, what: str, outcome: Outcome) -> None:
    portal.record(request, "report.view", outcome, subject_type="report", subject_id=what)


def _cells(table: Table) -> dict[str, Any]:
    """A table as the template shows it (every cell as text) with its chart."""
    return {
        "key": table.key,
        "title": table.title,
        "headings": table.headings,
        "rows": [[text(value) for value in row] for row in table.rows],
        "total": [text(value) for value in table.total] if table.total is not None else None,
        "notes": table.notes,
        "chart": render_chart(table),
        # Which columns the chart draws, so a check can hold the chart to the table.
        "chart_columns": ",".join(str(c) for c in table.chart.columns) if table.chart else "",
    }


def _json_table(table: Table) -> dict[str, Any]:
    def plain(value: object) -> object:
        return value if value is None or isinstance(value, int | float | str) else str(value)

    return {
        "key": table.key,
        "title": table.title,
        "headings": list(table.headings),
        "rows": [[plain(value) for value in row] for row in table.rows],
        "total": [plain(value) for value in table.total] if table.total is not None else None,
        "notes": list(table.notes),
    }


def _period(query: ReportQuery) -> dict[str, str]:
    return {"from": query.start.isoformat(), "to": query.end.isoformat()}


def _choice_items(choices: FilterChoices, asked: Mapping[str, str | None]) -> dict[str, Any]:
    """The filter drop-downs, each starting with 'All'."""
    return {
        name: [{"value": "", "text": "All"}]
        + [
            {"value": c.value, "text": c.text, "selected": asked.get(name) == c.value}
            for c in choices.of(name)
        ]
        for name in FILTER_FIELDS
    }


def _error_list(error: FilterError) -> list[dict[str, str]]:
    return [
        {"text": f"{FIELD_LABELS.get(name, name)}: {message}", "href": f"#{name}"}
        for name, message in error.errors.items()
    ]


# ------------------------------------------------------------------------- Reports page


def _report(portal: Portal, viewer: Viewer, request: Request) -> Report:
    now = portal.clock()
    query = portal.reports.query(viewer, _asked(request), now, scrutiny=False)
    return portal.reports.report(viewer, query, now)


@page.get("/reports")
@allow(Page.REPORTS)
def reports_page(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """Volumes, the monthly trend and timeliness, for the period and filters chosen."""
    asked = _asked(request)
    try:
        report = _report(portal, viewer, request)
    except FilterError as error:
        _audit(request, portal, "reports", Outcome.REFUSED)
        return render(
            request,
            "reports.html",
            {
                "asked": asked,
                "items": _choice_items(portal.reports.choices(viewer), asked),
                "field_errors": error.errors,
                "errors": _error_list(error),
                "report": None,
            },
            status_code=400,
        )
    _audit(request, portal, "reports", Outcome.ALLOWED)
    shown = {**asked, **_period(report.query)}
    query_string = urlencode({k: v for k, v in shown.items() if v})
    return render(
        request,
        "reports.html",
        {
            "asked": shown,
            "items": _choice_items(report.choices, asked),
            "field_errors": {},
            "report": report,
            "period": period_text(report.query),
            "as_of": long_date(report.query.as_of),
            "tables": [_cells(table) for table in report.tables],
            "totals": _cells(report.totals) if report.totals is not None else None,
            "query_string": query_string,
        },
    )


@page.get("/reports/files/{file}")
@allow(Page.REPORTS)
def report_file(request: Request, portal: PortalDep, viewer: ViewerDep, file: str) -> Response:
    """One table as CSV (`<table>.csv`) or every table as a workbook (`report.xlsx`)."""
    try:
        report = _report(portal, viewer, request)
    except FilterError as error:
        return Response(f"{error}\n", status_code=400, media_type="text/plain; charset=utf-8")
    _audit(request, portal, f"reports/{file}", Outcome.ALLOWED)
    stem = f"caseload-report-{report.query.start}-to-{report.query.end}"
    if file == "report.xlsx":
        heading = [f"Caseload report: {period_text(report.query)}", f"Covers {report.scope}"]
        return _attachment(workbook(report.all_tables, heading), XLSX, f"{stem}.xlsx")
    table = report.table(file.removesuffix(".csv")) if file.endswith(".csv") else None
    if table is None:
        raise NotFound
    return _attachment(table_csv(table), "text/csv; charset=utf-8", f"{stem}-{table.key}.csv")


@api.get("/reports")
@allow(Page.REPORTS)
def reports_api(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """The Reports page's tables as JSON (the same query string)."""
    try:
        report = _report(portal, viewer, request)
    except FilterError as error:
        return JSONResponse({"error": "Check the period and filters", "fields": error.errors}, 422)
    _audit(request, portal, "reports", Outcome.ALLOWED)
    return JSONResponse(
        {
            "period": _period(report.query),
            "as_of": report.query.as_of.isoformat(),
            "covers": report.scope,
            "tables": [_json_table(table) for table in report.all_tables],
        }
    )


# ------------------------------------------------------------------------ scrutiny report


def _published(request: Request) -> bool:
    return request.query_params.get("version", "published") != "internal"


def _scrutiny(portal: Portal, viewer: Viewer, request: Request) -> ScrutinyReport:
    now = portal.clock()
    query = portal.reports.query(viewer, _asked(request, ("from", "to")), now, scrutiny=True)
    return portal.reports.scrutiny(viewer, query, now, published=_published(request))


@page.get("/reports/scrutiny")
@allow(Page.SCRUTINY_REPORT)
def scrutiny_page(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """The six-monthly report on types of enquiry (default: the last complete half-year)."""
    asked = _asked(request, ("from", "to"))
    try:
        report = _scrutiny(portal, viewer, request)
    except FilterError as error:
        _audit(request, portal, "scrutiny", Outcome.REFUSED)
        return render(
            request,
            "scrutiny.html",
            {"asked": asked, "field_errors": error.errors, "errors": _error_list(error)},
            status_code=400,
        )
    _audit(request, portal, "scrutiny", Outcome.ALLOWED)
    version = "published" if report.published else "internal"
    query_string = urlencode({**_period(report.query), "version": version})
    return render(
        request,
        "scrutiny.html",
        {
            "asked": _period(report.query),
            "field_errors": {},
            "report": report,
            "period": period_text(report.query),
            "tables": [_cells(table) for table in report.tables],
            "query_string": query_string,
            "other_version": urlencode(
                {
                    **_period(report.query),
                    "version": "internal" if report.published else "published",
                }
            ),
        },
    )


@page.get("/reports/scrutiny/files/{file}")
@allow(Page.SCRUTINY_REPORT)
def scrutiny_file(request: Request, portal: PortalDep, viewer: ViewerDep, file: str) -> Response:
    """The scrutiny report as printable HTML (`scrutiny.html`), PDF (`scrutiny.pdf`), a
    workbook (`scrutiny.xlsx`) or one table as CSV (`<table>.csv`)."""
    try:
        report = _scrutiny(portal, viewer, request)
    except FilterError as error:
        return Response(f"{error}\n", status_code=400, media_type="text/plain; charset=utf-8")
    _audit(request, portal, f"scrutiny/{file}", Outcome.ALLOWED)
    stem = f"scrutiny-{report.query.start}-to-{report.query.end}"
    if not report.published:
        stem += "-internal"
    if file == "scrutiny.html":
        return HTMLResponse(scrutiny_html(report, stylesheet_href=f"/assets/{STYLESHEET}"))
    if file == "scrutiny.pdf":
        try:
            pdf = scrutiny_pdf(report)
        except PdfUnavailable:
            return message_page(
                request,
                503,
                "The PDF cannot be made on this server",
                ["Use the printable version and your browser's print to PDF instead."],
            )
        return _attachment(pdf, "application/pdf", f"{stem}.pdf")
    if file == "scrutiny.xlsx":
        return _attachment(workbook(report.tables, report.heading), XLSX, f"{stem}.xlsx")
    table = report.table(file.removesuffix(".csv")) if file.endswith(".csv") else None
    if table is None:
        raise NotFound
    return _attachment(table_csv(table), "text/csv; charset=utf-8", f"{stem}-{table.key}.csv")


@api.get("/reports/scrutiny")
@allow(Page.SCRUTINY_REPORT)
def scrutiny_api(request: Request, portal: PortalDep, viewer: ViewerDep) -> Response:
    """The scrutiny report's tables as JSON (`from`, `to`, `version=published|internal`)."""
    try:
        report = _scrutiny(portal, viewer, request)
    except FilterError as error:
        return JSONResponse({"error": "Check the period", "fields": error.errors}, 422)
    _audit(request, portal, "scrutiny", Outcome.ALLOWED)
    return JSONResponse(
        {
            "council": report.council_name,
            "title": report.title,
            "period": _period(report.query),
            "covers": report.scope,
            "published": report.published,
            "small_count_threshold": report.threshold,
            "tables": [_json_table(table) for table in report.tables],
        }
    )


__all__ = ["api", "page"]
