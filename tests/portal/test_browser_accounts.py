"""A service officer replies to a case, and an administrator manages accounts, in Debian's
Chromium at a desk (1280 px) and on a phone (390 px): every page state scanned by axe-core
(WCAG 2.2 AA) and none wider than the screen."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.portal import test_browser
from tests.portal.test_browser import ARTIFACTS, _axe, _sign_in
from tests.portal.web_fixtures import CASES

pytestmark = pytest.mark.browser
browser = test_browser.browser  # Debian's Chromium, never a downloaded one
base_url = test_browser.base_url  # the fixture portal on loopback, one for this module

HOUSING = next(c for c in CASES if c.title == "Housing adaptation")  # sent to S1
WIDTHS = (1280, 390)


class Scanner:
    """Scans each page state with axe and measures it against the screen's width."""

    def __init__(self, page: Any, width: int) -> None:
        self.page = page
        self.width = width
        self.found: dict[str, object] = {}

    def __call__(self, name: str) -> None:
        self.page.wait_for_load_state()
        label = f"{name} at {self.width} px"
        violations = _axe(self.page)
        if violations:
            self.found[label] = [
                {"id": v["id"], "where": [n["target"] for n in v["nodes"]]} for v in violations
            ]
        scroll = self.page.evaluate("document.documentElement.scrollWidth")
        if scroll > self.width:
            self.found[label + ", sideways scrolling"] = scroll


def _context(browser: Any, width: int) -> Any:
    # axe is injected as a script, so these contexts bypass the CSP.
    return browser.new_context(viewport={"width": width, "height": 900}, bypass_csp=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_service_officer_replies_and_the_member_sees_it(browser, base_url, width) -> None:
    officer = _context(browser, width)
    member = _context(browser, width)
    page = officer.new_page()
    scan = Scanner(page, width)
    reply = f"Occupational therapist visits on 22 June ({width})"
    try:
        _sign_in(page, base_url, "officer_s1")
        page.get_by_role("link", name="Housing adaptation").click()
        page.wait_for_load_state()
        page.get_by_role("button", name="Reply for your service").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Housing adaptation"
        main = page.locator("main").inner_text()
        assert "Details of Housing adaptation" in main and "Resident-" not in main
        scan("reply page")
        page.get_by_role("button", name="Send reply").click()
        page.wait_for_load_state()
        summary = page.locator(".govuk-error-summary").inner_text()
        assert "Enter your service's reply" in summary
        scan("reply page, reply missing")
        page.get_by_label("Your service's reply").fill(reply)
        page.get_by_role("button", name="Send reply").click()
        page.wait_for_load_state()
        assert "Your reply was sent to the councillor" in page.locator("main").inner_text()
        assert reply in page.locator("main").inner_text()
        scan("reply page, reply sent")
        page.screenshot(path=str(ARTIFACTS / f"portal-service-reply-{width}.png"), full_page=True)

        other = member.new_page()
        _sign_in(other, base_url, "alice")
        other.goto(f"{base_url}/cases/{HOUSING.portal_id}")
        timeline = other.locator("#timeline ~ ol").inner_text()
        assert "Reply from a service" in timeline and reply in timeline
        assert "Reply for your service" not in other.locator("main").inner_text()
    finally:
        officer.close()
        member.close()
    assert scan.found == {}, "axe or layout problems:\n" + json.dumps(scan.found, indent=2)


@pytest.mark.parametrize("width", WIDTHS)
def test_an_administrator_adds_changes_and_disables_an_account(browser, base_url, width) -> None:
    context = _context(browser, width)
    page = context.new_page()
    scan = Scanner(page, width)
    username = f"deepa.{width}@northshire.example"
    try:
        _sign_in(page, base_url, "admin")
        if width < 641:  # the navigation is behind its Menu button on a phone
            page.get_by_role("button", name="Menu").click()
        page.get_by_role("link", name="Accounts", exact=True).click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Accounts"
        scan("accounts")
        page.get_by_role("button", name="Add an account").click()
        page.wait_for_load_state()
        scan("new account")
        page.get_by_role("button", name="Add account").click()
        page.wait_for_load_state()
        assert "Enter a user name" in page.locator(".govuk-error-summary").inner_text()
        scan("new account, problems")
        page.get_by_label("Name", exact=True).fill("Deepa Patel")
        page.get_by_label("User name").fill(username)
        page.get_by_label("Service officer", exact=True).check()
        page.get_by_label("Officer (for the Service officer role)").select_option("o1")
        page.get_by_label("With a password").check()
        page.get_by_role("button", name="Add account").click()
        page.wait_for_load_state()
        assert "Account added" in page.locator("main").inner_text()
        assert page.locator("#one-time-password").inner_text().count("-") == 4
        scan("account added, password shown once")
        page.get_by_role("link", name="Go to the account").click()
        page.wait_for_load_state()
        assert page.get_by_role("heading", level=1).inner_text() == "Deepa Patel"
        scan("account")
        page.get_by_label("Members' Services officer", exact=True).check()
        page.get_by_label("Alice", exact=True).check()
        page.get_by_role("button", name="Save role").click()
        page.wait_for_load_state()
        assert "The role was saved" in page.locator(".govuk-notification-banner").inner_text()
        scan("account, role saved")
        page.get_by_role("button", name="Disable account").click()
        page.wait_for_load_state()
        assert "The account was disabled" in page.locator("main").inner_text()
        assert page.get_by_role("button", name="Enable account").is_visible()
        scan("account, disabled")
        page.screenshot(path=str(ARTIFACTS / f"portal-account-{width}.png"), full_page=True)
    finally:
        context.close()
    assert scan.found == {}, "axe or layout problems:\n" + json.dumps(scan.found, indent=2)
