"""The scrutiny report as a document of its own: printable HTML (with a print stylesheet) and
a PDF made from that same HTML, so the two never differ.

Rendered with plain Jinja2 (autoescaped) from `document/scrutiny.html`, so the portal, the CLI
and scheduled runs make the same file. The portal serves it with its stylesheet linked (its CSP
forbids inline styles); a saved file or the PDF carries the stylesheet inside.

PDF: WeasyPrint. It turns HTML and CSS (paged media: A4, page numbers, tables split across
pages with their headings repeated) into PDF in-process, with the Pango libraries Debian ships,
and needs no browser and no network. The alternative, printing from headless Chromium, would
put a browser process on the council's server for every PDF. Here WeasyPrint is given a URL
fetcher that accepts only `data:` URIs (the charts), so a report can never make it fetch a file
or a URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from jinja2 import Environment, PackageLoader, select_autoescape

from portal_extensions.reports.charts import RenderedChart, render
from portal_extensions.reports.figures import long_date, period_text
from portal_extensions.reports.service import ScrutinyReport
from portal_extensions.reports.tables import Table, text

STYLESHEET = "report.css"
_environment = Environment(
    loader=PackageLoader("portal_extensions.reports", "document"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["cell"] = text


@dataclass(frozen=True, slots=True)
class Section:
    table: Table
    chart: RenderedChart | None


def stylesheet() -> str:
    """The document's CSS (also served by the portal as an asset)."""
    return (resources.files("portal_extensions.reports") / "document" / STYLESHEET).read_text(
        encoding="utf-8"
    )


def sections(tables: tuple[Table, ...]) -> list[Section]:
    """Each table with its chart drawn from the same figures."""
    return [Section(table, render(table)) for table in tables]


def scrutiny_html(report: ScrutinyReport, *, stylesheet_href: str | None = None) -> str:
    """The report as one HTML document: with the stylesheet linked at `stylesheet_href`, or
    (None) carried inside, for a file or the PDF."""
    return _environment.get_template("scrutiny.html").render(
        report=report,
        period=period_text(report.query),
        made_on=long_date(report.made_on),
        sections=sections(report.tables),
        inline_css=None if stylesheet_href else stylesheet(),
        stylesheet_href=stylesheet_href,
    )


class PdfUnavailable(RuntimeError):
    """WeasyPrint cannot run here: the system's Pango library is missing."""


def scrutiny_pdf(report: ScrutinyReport) -> bytes:
    """The report as a PDF (A4, page numbers), from the same HTML; `PdfUnavailable` when the
    server lacks the Pango library WeasyPrint draws text with."""
    try:
        from weasyprint import HTML
        from weasyprint.urls import URLFetcher
    except OSError as error:  # WeasyPrint loads Pango with ctypes when imported
        raise PdfUnavailable(
            "PDFs need the Pango library on the server (Debian: apt-get install"
            f" libpango-1.0-0 libpangoft2-1.0-0); the printable HTML works without it ({error})"
        ) from None

    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False, timeout=5)
    pdf = HTML(string=scrutiny_html(report), url_fetcher=fetcher).write_pdf()
    if not isinstance(pdf, bytes):  # pragma: no cover - write_pdf() with no target returns bytes
        raise TypeError("WeasyPrint returned no PDF")
    return pdf


__all__ = [
    "STYLESHEET",
    "PdfUnavailable",
    "Section",
    "scrutiny_html",
    "scrutiny_pdf",
    "sections",
    "stylesheet",
]
