"""Charts drawn on the server as SVG by pygal: no JavaScript, nothing from a CDN.

Each chart is an image (`data:` URI, which the portal's CSP allows for images and WeasyPrint
reads without a fetch) drawn from the same `Table` the page shows beside it; its accessible
name says what it plots and that the figures are in that table. A withheld figure is not drawn.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import pygal
from pygal.style import Style

from portal_extensions.reports.tables import Table, Withheld

# GOV.UK Design System colours, in an order that keeps neighbouring series distinct.
_STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#0b0c0c",
    foreground_strong="#0b0c0c",
    foreground_subtle="#505a5f",
    colors=("#1d70b8", "#f47738", "#00703c", "#4c2c92", "#d4351c"),
    font_family="Arial, Helvetica, sans-serif",
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=13,
    title_font_size=15,
    value_font_size=11,
)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>", re.DOTALL)


@dataclass(frozen=True, slots=True)
class RenderedChart:
    src: str  # data:image/svg+xml;base64,...
    alt: str
    svg: str


def render(table: Table) -> RenderedChart | None:
    """The table's chart, or None when it has none or no row to draw."""
    spec = table.chart
    if spec is None or not table.rows:
        return None
    common = {
        "style": _STYLE,
        "js": [],
        "css": [],
        "disable_xml_declaration": True,
        "explicit_size": True,
        "width": 760,
        "height": max(320, 40 + 28 * len(table.rows)) if spec.kind == "bar" else 360,
        "title": table.title,
        "show_legend": len(spec.columns) > 1,
        "legend_at_bottom": True,
        "print_values": False,
        "tooltip_fancy_mode": False,
        "truncate_label": 40,
        "no_data_text": "No figures to draw",
    }
    chart: pygal.graph.graph.Graph
    if spec.kind == "line":
        chart = pygal.Line(x_label_rotation=30, **common)
    else:
        chart = pygal.HorizontalBar(**common)
    chart.x_labels = [str(row[0]) for row in table.rows]
    for column in spec.columns:
        values = [
            None if isinstance(value, Withheld) or not isinstance(value, int | float) else value
            for value in table.column(column)
        ]
        chart.add(table.headings[column], values)
    svg = _SCRIPT.sub("", chart.render(is_unicode=True))
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    alt = f"{spec.description}. The figures are in the table that follows the chart."
    return RenderedChart(f"data:image/svg+xml;base64,{encoded}", alt, svg)


__all__ = ["RenderedChart", "render"]
