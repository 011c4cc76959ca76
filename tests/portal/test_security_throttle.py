"""Sign-in throttling: per account and per (account, address), with back-off; never a lock-out
of another account, even when everybody shares the council proxy's address; X-Forwarded-For
believed only from the listed proxies; and counters in the store, shared by every portal
process (two apps on one SQLite file, and on one PostgreSQL schema)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from portal_extensions.config import PORTAL_SECRET_ENV, ConfigError, load_config
from portal_extensions.store.accounts import create_user
from portal_extensions.store.database import Store
from portal_extensions.store.schema import sign_in_failures
from portal_extensions.store.sign_in_failures import StoreSignInFailures
from tests.portal.access_fixtures import NOW, VIEWERS
from tests.portal.conftest import sign_in
from tests.portal.test_serve_workers import CSRF, _children, _free_port, _wait_until_up
from tests.portal.web_fixtures import SECRET, build
from tests.store.conftest import BACKENDS, fresh_database, postgres_url  # noqa: F401 (fixture)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _from(app, address: str, **headers: str) -> TestClient:
    return TestClient(app, client=(address, 40000), headers=headers, follow_redirects=False)


def test_back_off_doubles_then_the_window_forgets() -> None:
    clock = Clock()
    client = _from(build(clock=clock).app, "192.0.2.10")
    for _ in range(5):
        assert sign_in(client, "alice", "wrong").status_code == 401
    held = sign_in(client, "alice")
    assert held.status_code == 429 and held.headers["retry-after"] == "31"
    clock.advance(29)
    assert sign_in(client, "alice").status_code == 429, "still waiting: the password unchecked"
    clock.advance(2)
    assert sign_in(client, "alice", "wrong").status_code == 401  # the 6th failure
    assert sign_in(client, "alice").headers["retry-after"] == "61", "the wait doubles"
    clock.advance(61)
    waits = []
    for _ in range(6):  # the 7th .. 12th failures, each once its wait is over
        assert sign_in(client, "alice", "wrong").status_code == 401
        waits.append(int(sign_in(client, "alice").headers["retry-after"]))
        clock.advance(waits[-1])
    assert waits == [121, 241, 481, 901, 901, 901], "doubling, up to the window"
    assert sign_in(client, "alice", "wrong").status_code == 401
    clock.advance(30 * 60 + 1)
    assert sign_in(client, "alice").status_code == 303, "forgotten after twice the window"


def test_signing_in_clears_the_account_and_address_count() -> None:
    client = _from(build().app, "192.0.2.10")
    for _ in range(4):
        sign_in(client, "alice", "wrong")
    assert sign_in(client, "alice").status_code == 303
    client.cookies.clear()
    for _ in range(4):
        assert sign_in(client, "alice", "wrong").status_code == 401


def test_one_address_failing_for_many_accounts_never_locks_out_another() -> None:
    """The whole council behind one proxy address: many failures there, for many user names
    (some unknown), hold up only the accounts that failed."""
    app = build().app
    proxy = _from(app, "10.20.0.15")
    names = [name for name in sorted(VIEWERS) if name != "bob"] + ["nobody1", "nobody2"]
    for number in range(60):
        assert sign_in(proxy, names[number % len(names)], "wrong").status_code in (401, 429)
    assert sign_in(proxy, "alice").status_code == 429
    assert sign_in(_from(app, "10.20.0.15"), "bob").status_code == 303


def test_guessing_from_many_addresses_holds_up_the_account_but_no_other() -> None:
    app = build().app
    for number in range(20):
        assert sign_in(_from(app, f"198.51.100.{number}"), "alice", "wrong").status_code == 401
    assert sign_in(_from(app, "198.51.100.200"), "alice").status_code == 429
    assert sign_in(_from(app, "198.51.100.200"), "bob").status_code == 303


def test_x_forwarded_for_is_believed_only_from_a_listed_proxy() -> None:
    app = build(forwarded_for_proxies=["10.20.0.0/24"]).app
    # Through the proxy: each resident's own address counts, not the proxy's.
    via = "10.20.0.15"
    for _ in range(5):
        failing = _from(app, via, **{"X-Forwarded-For": "203.0.113.7"})
        assert sign_in(failing, "alice", "wrong").status_code == 401
    assert (
        sign_in(_from(app, via, **{"X-Forwarded-For": "203.0.113.7"}), "alice").status_code == 429
    )
    # A spoofed left-hand entry does not help: the proxy's own (right-hand) entry counts.
    spoofed = _from(app, via, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.7"})
    assert sign_in(spoofed, "alice").status_code == 429
    assert (
        sign_in(_from(app, via, **{"X-Forwarded-For": "203.0.113.8"}), "alice").status_code == 303
    )
    # From anywhere else the header is ignored: rotating it does not reset the count.
    direct = build(forwarded_for_proxies=["10.20.0.0/24"]).app
    for number in range(5):
        rotating = _from(direct, "192.0.2.99", **{"X-Forwarded-For": f"203.0.113.{number}"})
        assert sign_in(rotating, "alice", "wrong").status_code == 401
    assert (
        sign_in(_from(direct, "192.0.2.99", **{"X-Forwarded-For": "9.9.9.9"}), "alice").status_code
        == 429
    )


def test_the_proxy_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="forwarded_for_proxies"):
        build(forwarded_for_proxies=["not an address"])


@pytest.fixture(params=BACKENDS)
def shared_store(request, tmp_path_factory) -> Iterator[tuple[Store, Store]]:
    with fresh_database(request.param, request, tmp_path_factory) as database:
        first, second = database.open(), database.open()
        try:
            yield first, second
        finally:
            first.close()
            second.close()


def test_two_portal_processes_share_the_counts(shared_store: tuple[Store, Store]) -> None:
    """Like `serve --workers 2`: failures through either count for both, so two processes
    allow 5 guesses, not 10; and the store holds no user name or address."""
    first, second = shared_store
    one = build(sign_in_failures=StoreSignInFailures(first)).app
    two = build(sign_in_failures=StoreSignInFailures(second)).app
    for number in range(5):
        app = one if number % 2 else two
        assert sign_in(_from(app, "192.0.2.10"), "alice", "wrong").status_code == 401
    assert sign_in(_from(one, "192.0.2.10"), "alice").status_code == 429
    assert sign_in(_from(two, "192.0.2.10"), "alice").status_code == 429
    assert sign_in(_from(two, "192.0.2.10"), "bob").status_code == 303
    with first.read() as conn:
        rows = conn.execute(sa.select(sign_in_failures)).all()
    assert sorted(row.failures for row in rows) == [5, 5]  # alice, and alice from that address
    stored = " ".join(str(value) for row in rows for value in row)
    assert "alice" not in stored and "192.0.2.10" not in stored


def test_serve_with_two_workers_allows_five_guesses_not_ten(tmp_path: Path) -> None:
    """The real thing: `caseload serve --workers 2`, each guess on a new connection (the
    kernel spreads them over both processes): the sixth attempt is held up whichever answers."""
    data = tmp_path / "data"
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{data}"\n\n[portal]\ncouncil_name = "Northshire"\nhttps = false\n',
        encoding="utf-8",
    )
    store = Store.open(f"sqlite:///{data / 'caseload.sqlite'}")
    with store.write() as conn:
        create_user(
            conn, username="admin1", display_name="Admin", role="administrator", password="p" * 16
        )
    store.close()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CASELOAD_PORTAL_SECRET_KEY": SECRET}
    command = [sys.executable, "-m", "cli.main", "serve", "--config", str(config)]
    command += ["--port", str(port), "--workers", "2", "--no-worker"]
    child = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        _wait_until_up(base, child)
        assert len(_children(child.pid)) == 2, "two worker processes run"

        def attempt(password: str) -> int:
            session = requests.Session()
            session.headers["Connection"] = "close"
            token = CSRF.search(session.get(f"{base}/sign-in", timeout=10).text)
            assert token is not None
            return session.post(
                f"{base}/sign-in",
                data={"username": "admin1", "password": password, "csrf_token": token.group(1)},
                allow_redirects=False,
                timeout=10,
            ).status_code

        assert [attempt("wrong") for _ in range(5)] == [401] * 5
        assert [attempt("p" * 16) for _ in range(4)] == [429] * 4
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def test_the_throttle_settings_load_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "caseload.toml"
    path.write_text(
        '[portal]\ncouncil_name = "N"\nforwarded_for_proxies = ["10.20.0.15/32"]\n'
        "failed_sign_in_limit_per_account = 30\n",
        encoding="utf-8",
    )
    environ = {
        PORTAL_SECRET_ENV: SECRET,
        "CASELOAD_PORTAL_FORWARDED_FOR_PROXIES": '["10.20.0.0/24", "2001:db8::/32"]',
    }
    portal = load_config(path, need_crm=False, need_portal=True, environ=environ).require_portal()
    assert portal.failed_sign_in_limit_per_account == 30
    assert portal.is_forwarding_proxy("10.20.0.99") and portal.is_forwarding_proxy("2001:db8::1")
    assert not portal.is_forwarding_proxy("10.20.1.1") and not portal.is_forwarding_proxy("junk")
    assert not portal.is_trusted_proxy("10.20.0.99"), "forwarding is not single sign-on"
    # The old per-address limit (which locked out everybody behind one proxy) is gone, by name.
    path.write_text(
        '[portal]\ncouncil_name = "N"\nfailed_sign_in_limit_per_address = 20\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="failed_sign_in_limit_per_account"):
        load_config(path, need_crm=False, need_portal=True, environ={PORTAL_SECRET_ENV: SECRET})
