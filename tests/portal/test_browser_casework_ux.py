"""Casework as a councillor meets it, in Debian's Chromium at a desktop width (1280 px) and a
phone's (390 px): a form never dead-ends on a long answer, every change says it was made, the
constituent's choices and closing each have a page of their own (withdrawal asks first),
"Use these details" fills in who the resident is but never their consent, and lists show the
resident and the due date without scrolling sideways. Every page state is scanned by axe-core
(WCAG 2.2 AA)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn

from portal_extensions.casework.status import PortalHealth
from portal_extensions.casework.wording import council_date, council_time
from portal_extensions.store import Store
from portal_extensions.store.schema import CASES_SYNC_STATE, sync_state
from tests.portal import test_browser
from tests.portal.access_fixtures import NOW, TODAY
from tests.portal.test_browser import ARTIFACTS, _axe, _free_port
from tests.portal.web_fixtures import CASES, PASSWORD, build, make_case, stored

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the same Chromium fixture (Debian's, never downloaded)

FLY_TIPPING = CASES[0]
BROKEN_LIGHT = CASES[1]
LATE = make_case(
    "alice",
    "Graffiti on the bus shelter",
    target_date=TODAY - timedelta(days=3),
    received_at=NOW - timedelta(days=30),
)
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}


@contextmanager
def _serve(**parts: Any) -> Iterator[str]:
    built = build(**parts)
    built.repository.put(stored(LATE))
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(built.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the portal did not start on loopback within 10 seconds")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Visit:
    """One person's browser tab, checking each page state it reaches: no axe-core violation,
    no sideways scrolling, no console error."""

    def __init__(self, page: Any, width: str) -> None:
        self.page = page
        self.width = width
        self.found: dict[str, object] = {}
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(str(error)))

    def _console(self, message: Any) -> None:
        # A form shown again with its problems is answered 422, which Chromium reports.
        if message.type == "error" and "status of 422" not in message.text:
            self.problems.append(message.text)

    def check(self, name: str) -> None:
        page = self.page
        page.wait_for_load_state()
        fits = page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        assert fits, f"{name} scrolls sideways at {self.width}"
        violations = _axe(page)
        if violations:
            self.found[name] = [
                {"id": v["id"], "where": [n["target"] for n in v["nodes"]]} for v in violations
            ]

    def main(self) -> str:
        text: str = self.page.locator("main").inner_text()
        return text

    def click(self, role: str, name: str) -> None:
        self.page.get_by_role(role, name=name, exact=True).click()
        self.page.wait_for_load_state()

    def banner(self) -> str:
        text: str = self.page.locator(".govuk-notification-banner--success").inner_text()
        return text


def _sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@contextmanager
def _visit(browser: Any, width: str) -> Iterator[Visit]:
    w, h = WIDTHS[width]
    # axe is injected as a script, so this context alone bypasses the CSP.
    context = browser.new_context(
        viewport={"width": w, "height": h}, is_mobile=width == "phone", bypass_csp=True
    )
    try:
        yield Visit(context.new_page(), width)
    finally:
        context.close()


def _finish(visit: Visit) -> None:
    assert visit.found == {}, "axe-core WCAG 2.2 AA violations:\n" + json.dumps(
        visit.found, indent=2
    )
    assert visit.problems == [], f"browser console errors: {visit.problems}"


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_lists_show_resident_and_due_date_and_lead_back_where_they_came_from(
    browser, width: str
) -> None:
    with _serve() as base_url, _visit(browser, width) as visit:
        page = visit.page
        _sign_in(page, base_url, "alice")
        assert page.title().startswith("My caseload")
        visit.check("my caseload")
        page.screenshot(path=str(ARTIFACTS / f"portal-caseload-{width}.png"), full_page=True)
        row = page.locator("tr", has_text=LATE.title)
        assert LATE.constituent.display_name in row.inner_text()
        assert council_date(LATE.target_date) in row.inner_text()
        assert "Overdue" in row.inner_text()
        visit.click("link", "Overdue (1)")
        assert LATE.title in page.locator("table").inner_text()
        assert page.title().startswith("My caseload: Overdue")
        visit.check("my caseload, overdue")
        page.goto(f"{base_url}/ward")
        assert page.title().startswith("Your ward: Abbey")
        visit.check("ward")
        page.get_by_role("link", name=BROKEN_LIGHT.title).click()
        page.wait_for_load_state()
        back = page.locator(".govuk-back-link")
        assert back.inner_text() == "Back to the ward" and back.get_attribute("href") == "/ward"
        page.goto(f"{base_url}/search")
        page.get_by_label("Words to find").fill(str(BROKEN_LIGHT.crm_reference))
        page.get_by_role("button", name="Search").click()
        page.wait_for_load_state()
        assert "1 case found" in visit.main()  # found by its CRM reference
        assert BROKEN_LIGHT.constituent.display_name in page.locator("table").inner_text()
        visit.check("search by CRM reference")
        page.get_by_role("link", name=BROKEN_LIGHT.title).click()
        page.wait_for_load_state()
        assert page.locator(".govuk-back-link").inner_text() == "Back to search"
        page.goto(f"{base_url}/caseload")
        page.get_by_role("link", name=LATE.title).click()
        page.wait_for_load_state()
        assert page.locator(".govuk-back-link").inner_text() == "Back to my caseload"
        # A service officer's list names no resident: they may not see who it is.
        page.context.clear_cookies()
        _sign_in(page, base_url, "officer_s1")
        assert page.title().startswith("Cases sent to your service")
        assert "Resident" not in page.locator("table").inner_text()
        assert BROKEN_LIGHT.constituent.surname not in visit.main()
        visit.check("service officer's list")
        page.get_by_role("link", name=BROKEN_LIGHT.title).click()
        page.wait_for_load_state()
        assert page.locator(".govuk-back-link").inner_text() == "Back to cases"
        _finish(visit)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_an_enquiry_with_a_long_answer_comes_back_with_everything_typed(
    browser, width: str
) -> None:
    with _serve() as base_url, _visit(browser, width) as visit:
        page = visit.page
        _sign_in(page, base_url, "alice")
        page.goto(f"{base_url}/enquiries/new")
        page.get_by_label("Find a resident").fill("Resident-Broken")
        page.get_by_role("button", name="Find resident").click()
        page.wait_for_load_state()
        visit.check("new enquiry, resident found")
        found = page.locator("#found").inner_text()
        assert "Shared with ward councillors" in found  # what was agreed before, as information
        page.get_by_role(
            "button", name=f"Use the details of {BROKEN_LIGHT.constituent.display_name}"
        ).click()
        page.wait_for_load_state()
        visit.check("new enquiry, resident picked")
        assert page.get_by_label("First name (optional)").input_value() == "Sam"
        assert page.get_by_label("Surname").input_value() == BROKEN_LIGHT.constituent.surname
        # Consent and sharing are asked for this enquiry: shown as before, never chosen.
        assert "not carried over" in page.locator("#agreed-before").inner_text()
        for choice in ("Nobody else", "All councillors for the ward"):
            assert not page.get_by_label(choice).is_checked()
        assert not page.get_by_label(
            "The resident gave explicit consent to record them"
        ).is_checked()
        page.get_by_label("Postcode (optional)").fill("NE1 4XY IS NOT A POSTCODE")
        page.get_by_label("Category").select_option("roads")
        page.get_by_label("What is the enquiry about?").fill("Loose paving on Mill Lane")
        page.get_by_label("Details (optional)").fill("Trip hazard outside number 4")
        page.get_by_label("Phone", exact=True).check()
        page.get_by_label("All councillors for the ward").check()
        page.get_by_role("button", name="Record enquiry").click()
        page.wait_for_load_state()
        assert page.title().startswith("Error: New enquiry")
        summary = page.locator(".govuk-error-summary").inner_text()
        assert "Postcode must be 10 characters or fewer" in summary
        assert (
            "Postcode must be 10 characters or fewer"
            in page.locator("#postcode-error").inner_text()
        )
        assert page.get_by_label("Postcode (optional)").input_value() == "NE1 4XY IS NOT A POSTCODE"
        assert page.get_by_label("What is the enquiry about?").input_value() == (
            "Loose paving on Mill Lane"
        )
        assert page.get_by_label("Details (optional)").input_value() == (
            "Trip hazard outside number 4"
        )
        assert page.get_by_label("Surname").input_value() == BROKEN_LIGHT.constituent.surname
        assert page.get_by_label("All councillors for the ward").is_checked()
        assert page.get_by_label("Phone", exact=True).is_checked()
        visit.check("new enquiry, postcode too long")
        page.screenshot(
            path=str(ARTIFACTS / f"portal-enquiry-too-long-{width}.png"), full_page=True
        )
        page.get_by_label("Postcode (optional)").fill("NE1 4XY")
        page.get_by_role("button", name="Record enquiry").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Loose paving on Mill Lane"
        assert "Enquiry recorded" in visit.banner()
        visit.check("case page, enquiry recorded")
        _finish(visit)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_each_change_says_it_was_made_and_consent_and_closing_have_their_own_pages(
    browser, width: str
) -> None:
    with _serve() as base_url, _visit(browser, width) as visit:
        page = visit.page
        _sign_in(page, base_url, "alice")
        case_url = f"{base_url}/cases/{FLY_TIPPING.portal_id}"
        page.goto(case_url)
        visit.check("case page")
        height = page.evaluate("document.documentElement.scrollHeight")
        if width == "phone":  # the summary and timeline first, one short form at a time
            assert height < 3000, f"the case page is {height} px tall on a phone"
        page.screenshot(path=str(ARTIFACTS / f"portal-case-{width}.png"), full_page=True)

        page.get_by_label("Add a note").fill("Rang the street cleaning team")
        visit.click("button", "Add note")
        assert "Note added." in visit.banner()
        visit.check("case page, note added")
        page.reload()
        assert page.locator(".govuk-notification-banner").count() == 0  # shown once only

        page.get_by_label("Attach a file").set_input_files(
            files=[{"name": "photo.txt", "mimeType": "text/plain", "buffer": b"A photo"}]
        )
        visit.click("button", "Attach file")
        assert "File attached." in visit.banner()

        page.get_by_label("Send to a service").select_option("S1")
        visit.click("button", "Send to service")
        assert re.search(r"Sent to Highways\. The reply is due by \d+ \w+ \d{4}\.", visit.banner())
        visit.check("case page, sent to a service")

        assert page.get_by_role("button", name="Record authority", exact=True).count() == 0
        visit.click("button", "Change sharing")
        assert page.title().startswith("Who else may see this case")
        visit.check("sharing page")
        page.get_by_label("One named colleague (for example, holiday cover)").check()
        page.get_by_label("Named colleague (only if you chose one named colleague)").select_option(
            "bob"
        )
        visit.click("button", "Save sharing")
        assert "Sharing saved." in visit.banner()
        assert "Cllr Bob (named colleague)" in page.locator(".govuk-summary-list").inner_text()
        visit.check("case page, shared with a named colleague")

        visit.click("button", "Withdraw authority")
        assert page.get_by_role("heading", level=1).inner_text() == (
            "Withdraw the constituent's authority"
        )
        assert "Cllr Bob" in visit.main()  # what a withdrawal ends, said before it happens
        visit.check("withdrawal, asked to confirm")
        page.screenshot(
            path=str(ARTIFACTS / f"portal-withdraw-confirm-{width}.png"), full_page=True
        )
        visit.click("link", "No, go back to the case")
        assert "Cllr Bob" in page.locator(".govuk-summary-list").inner_text()  # nothing changed
        visit.click("button", "Withdraw authority")
        visit.click("button", "Yes, withdraw authority")
        assert "Authority withdrawn." in visit.banner()
        summary = page.locator(".govuk-summary-list").inner_text()
        assert "Cllr Bob" not in summary and "Nobody else" in summary
        assert page.get_by_role("button", name="Withdraw authority").count() == 0
        visit.check("case page, authority withdrawn")

        visit.click("button", "Record authority")
        visit.check("record authority page")
        visit.click("button", "Record authority")
        assert "Authority recorded." in visit.banner()
        # The old named-colleague sharing is not restored: it is asked for again.
        assert "Cllr Bob" not in page.locator(".govuk-summary-list").inner_text()
        assert page.get_by_role("button", name="Record authority", exact=True).count() == 0

        visit.click("button", "Close case")
        visit.click("button", "Close case")
        assert (
            "Enter why the case is being closed"
            in page.locator(".govuk-error-summary").inner_text()
        )
        visit.check("closing page, reason missing")
        page.get_by_label("Why the case is being closed").fill("Cleared by street cleaning")
        visit.click("button", "Close case")
        assert "Case closed." in visit.banner()
        visit.check("case page, closed")
        assert page.url == case_url
        _finish(visit)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_the_health_page_writes_dates_as_every_other_page_does(
    browser, width: str, tmp_path: Path
) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    finished = NOW - timedelta(minutes=14)
    with store.write() as conn:
        conn.execute(
            sa.insert(sync_state).values(
                name=CASES_SYNC_STATE,
                last_started_at=finished - timedelta(seconds=30),
                last_finished_at=finished,
                last_count=12,
                last_seconds=3.5,
            )
        )
    health = PortalHealth(store, clock=lambda: NOW)
    with _serve(health=health) as base_url, _visit(browser, width) as visit:
        page = visit.page
        _sign_in(page, base_url, "admin")
        page.goto(f"{base_url}/health")
        text = visit.main()
        # In council time and words, as a case's timeline writes a moment (BST in June).
        assert f"finished {council_time(finished)}, 14 minutes ago" in text
        assert re.search(r"\d{1,2} June 2026 at \d{1,2}:\d{2}(am|pm)", text)
        assert "UTC" not in text
        visit.check("health")
        _finish(visit)
    store.close()
