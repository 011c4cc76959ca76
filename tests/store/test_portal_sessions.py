"""Signed-in sessions live in the store: every portal worker process sees the same ones."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal_extensions.store.accounts import create_user, deactivate, set_password
from portal_extensions.store.database import Store
from portal_extensions.store.schema import portal_sessions
from portal_extensions.store.sessions import StoreSessionRegistry

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_a_session_issued_by_one_process_is_live_in_another(
    open_store: Callable[[], Store],
) -> None:
    first, second = StoreSessionRegistry(open_store()), StoreSessionRegistry(open_store())
    session_id = first.issue("alice", 3600)
    assert second.is_live(session_id, "alice")
    assert not second.is_live(session_id, "bob"), "a session belongs to one user"
    assert not second.is_live(session_id + "x", "alice")
    second.revoke(session_id)
    assert not first.is_live(session_id, "alice"), "signing out ends the session everywhere"


def test_only_a_hash_of_the_session_id_is_stored(store: Store) -> None:
    session_id = StoreSessionRegistry(store).issue("alice", 3600)
    with store.read() as conn:
        stored = conn.execute(sa.select(portal_sessions.c.token_hash)).scalars().all()
    assert len(stored) == 1 and session_id not in stored[0] and len(stored[0]) == 64


def test_expired_sessions_are_refused_and_cleared_at_the_next_sign_in(store: Store) -> None:
    clock = Clock()
    registry = StoreSessionRegistry(store, clock)
    old = registry.issue("alice", 60)
    clock.now = T0 + timedelta(seconds=61)
    assert not registry.is_live(old, "alice")
    fresh = registry.issue("bob", 60)
    assert registry.is_live(fresh, "bob")
    with store.read() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(portal_sessions)).scalar_one()
    assert left == 1


@pytest.mark.parametrize("change", ["deactivate", "set_password"])
def test_deactivation_and_a_new_password_end_every_session(store: Store, change: str) -> None:
    with store.write() as conn:
        create_user(
            conn, username="admin1", display_name="Admin", role="administrator", password="p" * 16
        )
    registry = StoreSessionRegistry(store)
    phone, laptop = registry.issue("admin1", 3600), registry.issue("admin1", 3600)
    other = registry.issue("someone-else", 3600)
    with store.write() as conn:
        if change == "deactivate":
            deactivate(conn, "admin1")
        else:
            set_password(conn, "admin1", "q" * 16)
    assert not registry.is_live(phone, "admin1") and not registry.is_live(laptop, "admin1")
    assert registry.is_live(other, "someone-else")


def test_two_portal_processes_share_sign_in_and_sign_out(open_store: Callable[[], Store]) -> None:
    """Two apps over one store stand for two uvicorn workers: a cookie from one works on the
    other, and signing out on either ends it on both."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from portal_extensions.config import PortalSettings
    from portal_extensions.runtime import build_portal
    from tests.portal.conftest import csrf_from

    store = open_store()
    with store.write() as conn:
        create_user(
            conn, username="admin1", display_name="Admin", role="administrator", password="p" * 16
        )
    settings = PortalSettings(council_name="Test", secret_key="k" * 64, https=False)
    one = TestClient(build_portal(settings, store, None), follow_redirects=False)
    two = TestClient(build_portal(settings, open_store(), None), follow_redirects=False)
    page = one.get("/sign-in")
    answer = one.post(
        "/sign-in",
        data={"username": "admin1", "password": "p" * 16, "csrf_token": csrf_from(page.text)},
    )
    assert answer.status_code == 303
    cookie = {"caseload_session": one.cookies["caseload_session"]}
    two.cookies.update(cookie)
    assert two.get("/directory").status_code == 200, "the other worker knows the session"
    signed_out = two.post("/sign-out", data={"csrf_token": csrf_from(two.get("/directory").text)})
    assert signed_out.status_code == 303
    # The old cookie, presented again to the first worker (a copied cookie): refused.
    again = TestClient(one.app, follow_redirects=False, cookies=cookie)
    assert again.get("/directory").status_code == 303, "signed out on the first worker too"
