"""The portal in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser). A member signs in and sees their caseload; axe-core finds no WCAG 2.2 AA problem on
any page. Screenshots are kept under test-artifacts/ for people to look at."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from tests.portal.web_fixtures import CASES, PASSWORD, build

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(build().app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the portal did not start on loopback within 10 seconds")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: browser tests use Debian's chromium package."
            " `make test` installs it (apt-get install -y chromium); never `playwright install`."
        )
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` in the repository root (`make test` does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def _sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_member_signs_in_on_a_phone_and_sees_their_caseload(browser, base_url) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        _sign_in(page, base_url, "alice")
        assert page.get_by_role("heading", level=1).inner_text() == "My caseload"
        table = page.locator("table.govuk-table").inner_text()
        assert "Broken street light" in table
        assert "Pothole on High Street" not in table  # carol's private case
        assert "Noise from a pub" not in table  # shared with ward W2, not alice's ward
        # JavaScript enhancement ran, under the CSP, with no errors.
        assert "govuk-frontend-supported" in page.locator("body").get_attribute("class")
        page.screenshot(path=str(ARTIFACTS / "portal-member-caseload-phone.png"), full_page=True)
        page.get_by_role("link", name="Broken street light").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Broken street light"
        page.get_by_label("Add a note").fill("Rang the street lighting team")
        page.get_by_role("button", name="Add note").click()
        page.wait_for_load_state()
        newest = page.locator(".caseload-timeline__entry").first.inner_text()
        assert "Rang the street lighting team" in newest and "Waiting for the CRM" in newest
        page.screenshot(path=str(ARTIFACTS / "portal-member-case-phone.png"), full_page=True)
        for path in ("", "/caseload", "/ward", "/search", "/enquiries/new", "/directory"):
            if path:
                page.goto(f"{base_url}{path}")
            if path == "/search":  # the results, posted: the words never reach the address
                page.get_by_label("Words to find").fill("street")
                page.get_by_role("button", name="Search").click()
                page.wait_for_load_state()
                assert page.url == f"{base_url}/search"
                assert "Broken street light" in page.locator("table.govuk-table").inner_text()
            no_overflow = page.evaluate(
                "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
            )
            assert no_overflow, f"{path or 'the case page'} scrolls sideways on a phone"
        assert problems == [], f"browser console errors: {problems}"
    finally:
        context.close()


def test_a_service_officer_sees_only_their_services_cases(browser, base_url) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        _sign_in(page, base_url, "officer_s1")
        assert page.get_by_role("heading", level=1).inner_text() == "Cases sent to your service"
        table = page.locator("table.govuk-table").inner_text()
        assert "Broken street light" in table and "Overgrown hedge" in table  # service S1
        assert "Pothole on High Street" not in table  # service S2
        assert "Withdrawn ward case" not in table  # S1, but authority withdrawn
        page.get_by_role("link", name="Housing adaptation").click()
        page.wait_for_load_state()
        body = page.locator("main").inner_text()
        assert "Constituent" not in body and "Timeline" not in body
        page.screenshot(path=str(ARTIFACTS / "portal-service-officer-case.png"), full_page=True)
    finally:
        context.close()


def test_pages_work_without_javascript(browser, base_url) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        _sign_in(page, base_url, "bob")
        assert page.get_by_role("heading", level=1).inner_text() == "My caseload"
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        # A member switches between their own cases and those they cover with plain links.
        _sign_in(page, base_url, "dave")
        assert "Cover during holiday" not in page.locator("main").inner_text()
        page.get_by_role("link", name="Covering for colleagues (1)").click()
        page.wait_for_load_state()
        assert "Cover during holiday" in page.locator("table.govuk-table").inner_text()
        page.get_by_role("link", name="Overdue (0)").click()
        page.wait_for_load_state()
        assert "whose=covering" in page.url and "view=overdue" in page.url
        page.get_by_role("link", name="Your cases").click()  # the same group, own cases
        page.wait_for_load_state()
        assert "whose" not in page.url and "view=overdue" in page.url
        assert "There are no cases here." in page.locator("main").inner_text()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Sign in to Caseload"
    finally:
        context.close()


def _axe(page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_22_AA
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def test_axe_finds_no_wcag_22_aa_violations_on_any_page(browser, base_url) -> None:
    # axe is injected as a script, so this context alone bypasses the CSP.
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    found: dict[str, object] = {}
    try:

        def scan(name: str) -> None:
            page.wait_for_load_state()
            violations = _axe(page)
            if violations:
                found[name] = [
                    {
                        "id": v["id"],
                        "help": v["help"],
                        "where": [n["target"] for n in v["nodes"]],
                        "why": [n["failureSummary"] for n in v["nodes"]],
                    }
                    for v in violations
                ]

        page.goto(f"{base_url}/sign-in")
        scan("sign-in")
        page.get_by_role("button", name="Sign in").click()
        scan("sign-in with errors")
        page.goto(f"{base_url}/no-such-page")
        scan("not found")
        _sign_in(page, base_url, "alice")
        scan("my caseload")
        page.goto(f"{base_url}/caseload?view=recently_closed")
        scan("my caseload, empty group")
        page.goto(f"{base_url}/cases/{CASES[0].portal_id}")
        scan("case page")
        page.get_by_role("button", name="Add note").click()
        scan("case page, note missing")
        page.get_by_role("button", name="Attach file").click()
        scan("case page, file missing")
        page.get_by_label("Add a note").fill("Rang the resident back")
        page.get_by_role("button", name="Add note").click()
        page.get_by_label("Attach a file").set_input_files(
            files=[{"name": "letter.txt", "mimeType": "text/plain", "buffer": b"A letter"}]
        )
        page.get_by_role("button", name="Attach file").click()
        scan("case page, timeline with waiting note and file")
        with page.expect_download() as waiting:
            page.locator('a[href*="/queued-files/"]', has_text="letter.txt").click()
        assert waiting.value.suggested_filename == "letter.txt"
        page.get_by_role("button", name="Send to service").click()
        scan("case page, service missing")
        page.goto(f"{base_url}/cases/{CASES[0].portal_id}/sharing")
        scan("sharing page")
        page.get_by_label("Month").first.fill("13")
        page.get_by_label("One named colleague (for example, holiday cover)").check()
        page.get_by_role("button", name="Save sharing").click()
        scan("sharing page, sharing errors")
        for path, state in (
            ("authority", "record explicit consent"),
            ("authority/withdraw", "withdrawal, asked to confirm"),
            ("close", "closing page"),
        ):
            page.goto(f"{base_url}/cases/{CASES[0].portal_id}/{path}")
            scan(state)
        for words, state in (("Resident-Broken", "residents found"), ("nobody-at-all", "none")):
            page.goto(f"{base_url}/enquiries/new")
            page.get_by_label("Find a resident").fill(words)
            page.get_by_role("button", name="Find resident").click()
            scan(f"new enquiry, {state}")
        page.goto(f"{base_url}/search")
        scan("search")
        page.get_by_label("Words to find").fill("street")
        page.get_by_role("button", name="Search").click()
        scan("search results")
        page.goto(f"{base_url}/directory")
        scan("directory")
        page.goto(f"{base_url}/ward")
        scan("ward view")
        page.goto(f"{base_url}/enquiries/new")
        scan("new enquiry")
        page.get_by_label("One named colleague (for example, holiday cover)").check()
        page.get_by_label("Year").fill("20x6")
        page.get_by_role("button", name="Record enquiry").click()
        scan("new enquiry with errors")
        assert "The end date must be a real date" in page.locator("main").inner_text()
        page.screenshot(path=str(ARTIFACTS / "portal-new-enquiry-errors.png"), full_page=True)
        page.goto(f"{base_url}/health")
        scan("forbidden page")
        context.clear_cookies()
        _sign_in(page, base_url, "dave")  # named cover for one of alice's cases
        scan("my caseload, with cases covered for a colleague")
        page.get_by_role("link", name="Covering for colleagues (1)").click()
        scan("cases covered for colleagues")
        context.clear_cookies()
        _sign_in(page, base_url, "admin")
        scan("health")
    finally:
        context.close()
    assert found == {}, "axe-core WCAG 2.2 AA violations:\n" + json.dumps(found, indent=2)
