"""Reports in a real browser (Debian's Chromium via Playwright): each role opens Reports, every
chart loads under the portal's CSP and draws exactly the figures of the table beside it, and
axe-core finds no WCAG 2.2 AA problem on any report page."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from tests.portal import test_browser as shared
from tests.portal.test_browser import ARTIFACTS, _axe, _sign_in

# The browser pages' fixtures: Debian's Chromium, and the test portal on loopback.
browser = shared.browser
base_url = shared.base_url

pytestmark = pytest.mark.browser

VALUE = re.compile(r'<desc class="value">([^<]*)</desc>')
PERIOD = "from=2025-07-01&to=2026-06-15"


def _charts_agree_with_tables(page) -> int:
    """Each chart's drawn values are its table's figures, in order; returns charts checked."""
    checked = 0
    for section in page.locator("section.caseload-report-section").all():
        figure = section.locator("figure.caseload-report-chart")
        if figure.count() == 0:
            continue
        image = figure.locator("img")
        assert image.evaluate("img => img.complete && img.naturalWidth > 0"), "chart not drawn"
        src = image.get_attribute("src") or ""
        svg = base64.b64decode(src.split(",", 1)[1]).decode("utf-8")
        columns = [int(c) for c in (figure.get_attribute("data-columns") or "").split(",")]
        rows = section.locator("tbody tr").all()
        cells = [
            [cell.inner_text().strip() for cell in row.locator("th, td").all()] for row in rows
        ]
        expected = [
            row[column]
            for column in columns
            for row in cells
            if re.fullmatch(r"\d+(\.\d+)?", row[column])
        ]
        assert VALUE.findall(svg) == expected, section.locator("h2").inner_text()
        checked += 1
    return checked


@pytest.mark.parametrize(
    ("who", "pages"),
    [
        ("alice", ["/reports"]),
        ("ms_alice", ["/reports", "/reports/scrutiny"]),
        ("team_leader", ["/reports", "/reports/scrutiny?version=internal"]),
        ("officer_s1", ["/reports"]),
    ],
)
def test_reports_as_each_role_charts_agree_with_tables_and_axe_finds_nothing(
    browser, base_url, who, pages
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(bypass_csp=False)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    found: dict[str, Any] = {}
    scan = None
    try:
        _sign_in(page, base_url, who)
        page.get_by_role("link", name="Reports", exact=True).click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Reports"
        for path in pages:
            joiner = "&" if "?" in path else "?"
            page.goto(f"{base_url}{path}{joiner}{PERIOD}")
            page.wait_for_load_state()
            charts = _charts_agree_with_tables(page)
            assert (charts > 0) == (who != "officer_s1"), path
            name = f"{who} {path}"
            if path == "/reports":
                page.screenshot(path=str(ARTIFACTS / f"reports-{who}.png"), full_page=True)
            # axe runs as an injected script: a context of its own bypasses the CSP for it.
            if scan is None:
                scan = browser.new_context(bypass_csp=True, storage_state=context.storage_state())
                scanned = scan.new_page()
            scanned.goto(page.url)
            scanned.wait_for_load_state()
            violations = _axe(scanned)
            if violations:
                found[name] = [
                    {"id": v["id"], "where": [n["target"] for n in v["nodes"]]} for v in violations
                ]
        assert problems == [], f"browser console errors: {problems}"
        # Bad input (answered 400): the error summary and messages are accessible too.
        page.goto(f"{base_url}/reports?from=2026-02-30")
        assert "There is a problem" in page.locator("main").inner_text()
        scanned.goto(page.url)
        violations = _axe(scanned)
        if violations:
            found[f"{who} errors"] = [v["id"] for v in violations]
    finally:
        if scan is not None:
            scan.close()
        context.close()
    assert found == {}, "axe-core WCAG 2.2 AA violations:\n" + json.dumps(found, indent=2)


def test_the_printable_scrutiny_report_has_a_print_stylesheet_and_no_violations(
    browser, base_url
) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in(page, base_url, "team_leader")
        page.goto(f"{base_url}/reports/scrutiny/files/scrutiny.html?{PERIOD}")
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text().startswith("Councillors")
        page.emulate_media(media="print")
        assert (
            page.evaluate("getComputedStyle(document.querySelector('thead')).display")
            == "table-header-group"
        )
        images = page.locator("img").all()
        assert images and all(i.evaluate("i => i.naturalWidth > 0") for i in images)
        scan = browser.new_context(bypass_csp=True, storage_state=context.storage_state())
        scanned = scan.new_page()
        scanned.goto(page.url)
        assert _axe(scanned) == []
        scan.close()
    finally:
        context.close()
