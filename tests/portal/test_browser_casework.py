"""Casework end to end in Debian's Chromium, on the real stack: the sandbox CRM, the store, the
real connector and dispatcher. A councillor finds a resident, records an enquiry, sees it queued
and then confirmed; a ward colleague sees it only once it is shared with the ward, and loses it
the moment the resident withdraws. Every new page state is scanned by axe-core (WCAG 2.2 AA)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import uvicorn
from argon2 import PasswordHasher

from mappings.model import SharingLevel
from portal_extensions.config import PortalSettings
from portal_extensions.jobs.dispatch import Dispatcher
from portal_extensions.store import IndexedCase, Store, upsert_cases
from portal_extensions.store.accounts import StoreAccountAdmin, StoreAccounts
from portal_extensions.store.audit import StoreAuditTrail
from portal_extensions.store.case_reads import StoreCaseRepository
from portal_extensions.store.case_writes import StoreCaseWrites
from portal_extensions.store.directory import StoreEnquiryOptions
from portal_extensions.store.schema import (
    categories,
    members,
    parties,
    roles,
    user_roles,
    users,
    wards,
)
from portal_extensions.web import create_app
from tests.portal import test_browser
from tests.portal.fakes import MemoryDirectory, MemorySessionRegistry, MemorySignInFailures
from tests.portal.report_fixtures import store_reports
from tests.portal.test_browser import ARTIFACTS, _axe, _free_port
from tests.portal.test_web_sandbox import LAGAN, lagan_client
from tests.portal.web_fixtures import PASSWORD, SECRET

pytestmark = pytest.mark.browser
browser = test_browser.browser  # the same Chromium fixture (Debian's, never downloaded)
QUEUED = "Waiting for the council's CRM to confirm this case"


@contextmanager
def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
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


def _seed(store: Store, seeded: Any) -> None:
    now = datetime.now(UTC)
    hashed = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    with store.write() as conn:
        conn.execute(sa.insert(parties).values(id="p1", name="Red"))
        conn.execute(sa.insert(wards).values(id=seeded.ward_id, name="The ward"))
        conn.execute(
            sa.insert(members),
            [
                {
                    "id": seeded.member_id,
                    "name": "Cllr Ash",
                    "party_id": "p1",
                    "ward_id": seeded.ward_id,
                },
                {
                    "id": "colleague",
                    "name": "Cllr Birch",
                    "party_id": "p1",
                    "ward_id": seeded.ward_id,
                },
            ],
        )
        conn.execute(
            sa.insert(categories).values(code=seeded.category, name="Roads", updated_at=now)
        )
        if conn.execute(sa.select(roles.c.name).where(roles.c.name == "member")).first() is None:
            conn.execute(sa.insert(roles).values(name="member", description="A councillor"))
        for number, (username, member_id) in enumerate(
            (("ash", seeded.member_id), ("birch", "colleague")), start=1
        ):
            conn.execute(
                sa.insert(users).values(
                    id=number,
                    username=username,
                    display_name=username.title(),
                    member_id=member_id,
                    password_hash=hashed,
                    active=True,
                    created_at=now,
                )
            )
            conn.execute(sa.insert(user_roles).values(user_id=number, role_name="member"))
        # The resident's earlier enquiry, as a sync would have indexed it.
        upsert_cases(conn, [IndexedCase(seeded, None)], now=now)


def _sign_in(page: Any, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/sign-in")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.mark.sandbox_crm(cases=3, seed=5)
def test_an_enquiry_is_recorded_confirmed_shared_and_withdrawn_in_the_browser(
    sandbox_crm, browser, tmp_path: Path
) -> None:
    client = lagan_client(sandbox_crm)
    seeded = LAGAN.to_caseload(client.get_case(sorted(sandbox_crm.store.cases)[0]))
    seeded = seeded.model_copy(update={"sharing": seeded.sharing.model_copy()})
    store = Store.open(f"sqlite:///{tmp_path / 'caseload.sqlite'}")
    _seed(store, seeded)
    app = create_app(
        PortalSettings(council_name="Sandbox Council", secret_key=SECRET, https=False),
        accounts=StoreAccounts(store),
        account_admin=StoreAccountAdmin(store),
        cases=StoreCaseRepository(store),
        writes=StoreCaseWrites(store),
        enquiry_options=StoreEnquiryOptions(store),
        directory=(directory := MemoryDirectory([])),
        audit=StoreAuditTrail(store),
        health=lambda: (),
        liveness=store.ping,
        sessions=MemorySessionRegistry(),
        sign_in_failures=MemorySignInFailures(),
        reports=store_reports(store, directory),
        parties=None,
        attachments=None,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    found: dict[str, object] = {}
    with _serve(app) as base_url:
        member = browser.new_context(bypass_csp=True)  # axe is injected as a script
        colleague = browser.new_context()
        page = member.new_page()
        other = colleague.new_page()

        def scan(name: str) -> None:
            page.wait_for_load_state()
            violations = _axe(page)
            if violations:
                found[name] = [
                    {"id": v["id"], "where": [n["target"] for n in v["nodes"]]} for v in violations
                ]

        try:
            _sign_in(page, base_url, "ash")
            page.goto(f"{base_url}/enquiries/new")
            page.get_by_label("Find a resident").fill(seeded.constituent.surname)
            page.get_by_role("button", name="Find resident").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", name="Residents found").is_visible()
            assert seeded.title in page.locator("#found").inner_text()
            scan("new enquiry, residents found")
            page.get_by_role(
                "button", name=f"Use the details of {seeded.constituent.display_name}"
            ).click()
            page.wait_for_load_state()
            assert page.get_by_label("Surname").input_value() == seeded.constituent.surname
            page.get_by_label("Category").select_option(seeded.category)
            page.get_by_label("What is the enquiry about?").fill("Street light out on Mill Lane")
            page.get_by_label("At a surgery").check()
            page.get_by_label("Nobody else").check()
            page.get_by_role("button", name="Record enquiry").click()
            page.wait_for_load_state()
            assert page.get_by_role("heading", level=1).inner_text() == (
                "Street light out on Mill Lane"
            )
            assert QUEUED in page.locator("main").inner_text()
            case_url = page.url
            scan("case page, queued, with every form")
            page.screenshot(path=str(ARTIFACTS / "portal-case-queued.png"), full_page=True)

            Dispatcher(store, client, LAGAN, backoff_initial=0, backoff_max=0).run_until_idle(
                limit=10
            )
            page.reload()
            page.wait_for_load_state()
            main = page.locator("main").inner_text()
            assert QUEUED not in main and "Case " in page.locator(".govuk-caption-l").inner_text()
            scan("case page, confirmed")

            _sign_in(other, base_url, "birch")
            other.goto(case_url)
            assert other.get_by_role("heading", level=1).inner_text() == "Page not found"

            page.get_by_role("button", name="Change sharing").click()
            page.wait_for_load_state()
            page.get_by_label("One named colleague (for example, holiday cover)").check()
            page.get_by_role("button", name="Save sharing").click()
            page.wait_for_load_state()
            assert (
                "Select the colleague to share this enquiry with"
                in page.locator(".govuk-error-summary").inner_text()
            )
            scan("sharing page, sharing error")
            page.get_by_label("All councillors for the ward").check()
            page.get_by_role("button", name="Save sharing").click()
            page.wait_for_load_state()

            other.goto(case_url)
            assert other.get_by_role("heading", level=1).inner_text() == (
                "Street light out on Mill Lane"
            )
            other.screenshot(path=str(ARTIFACTS / "portal-colleague-sees-shared.png"))

            page.get_by_role("button", name="Withdraw authority").click()
            page.wait_for_load_state()
            scan("withdrawal, asked to confirm")
            page.get_by_role("button", name="Yes, withdraw authority").click()
            page.wait_for_load_state()
            assert "withdrawn their authority" in page.locator("main").inner_text()
            scan("case page, authority withdrawn")
            other.goto(case_url)
            assert other.get_by_role("heading", level=1).inner_text() == "Page not found"
            other.goto(f"{base_url}/ward")
            assert "Street light out on Mill Lane" not in other.locator("main").inner_text()
        finally:
            member.close()
            colleague.close()
            client.close()
    assert found == {}, "axe-core WCAG 2.2 AA violations:\n" + json.dumps(found, indent=2)
    assert SharingLevel.WARD.value == "ward"
