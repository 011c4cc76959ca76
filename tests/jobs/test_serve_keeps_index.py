"""`caseload serve` keeps the index up to date by itself: its in-process worker syncs on the
configured interval, so a case changed in the CRM shows in the portal with no manual sync."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from portal_extensions.store.accounts import create_user
from portal_extensions.store.database import Store

pytestmark = pytest.mark.sandbox_crm(cases=30, seed=8)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PORTAL_SECRET = "portal-session-secret-" + "k" * 24
PASSWORD = "a long test password"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, handle: Any) -> Path:
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        "\n[crm]\n"
        'kind = "lagan"\n'
        f'endpoint = "{handle.fl_url}"\n'
        f'auth_endpoint = "{handle.flauth_url}"\n'
        'allowed_hosts = ["127.0.0.1"]\n'
        f'username = "{handle.username}"\n'
        "\n[portal]\n"
        'council_name = "Fenmarsh"\n'
        "https = false\n"
        "\n[worker]\n"
        "sync_interval_seconds = 1\n"
        "dispatch_interval_seconds = 0.5\n",
        encoding="utf-8",
    )
    return config


def _until(check: Any, what: str, child: subprocess.Popen[bytes], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert child.poll() is None, "caseload serve exited early"
        try:
            found = check()
        except requests.ConnectionError:
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} within {seconds:.0f} s")


def test_serve_shows_a_case_changed_in_the_crm_without_a_manual_sync(
    tmp_path: Path, sandbox_crm_server: Any
) -> None:
    (tmp_path / "data").mkdir()
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'caseload.sqlite'}")
    with store.write() as conn:
        create_user(
            conn,
            username="leader",
            display_name="Team leader",
            role="team_leader",
            password=PASSWORD,
        )
    store.close()
    # An open case: the published FL contract has no modification filter, so the worker's
    # sync re-reads open cases (changes to closed ones arrive by the CRM's case-event push).
    crm_cases = sandbox_crm_server.store.cases
    reference = sorted(ref for ref, c in crm_cases.items() if c["status"] != "closed")[0]
    portal_id = sandbox_crm_server.store.case(reference)["form"]["PortalId"]
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CASELOAD_PORTAL_SECRET_KEY": PORTAL_SECRET,
        "CASELOAD_CRM_PASSWORD": sandbox_crm_server.password,
    }
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "serve",
        "--config",
        str(_config(tmp_path, sandbox_crm_server)),
    ]
    command += ["--port", str(port)]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        child = subprocess.Popen(command, env=env, stdout=sink, stderr=sink)  # noqa: S603
    try:
        session = requests.Session()
        page = _until(
            lambda: session.get(f"{base}/sign-in", timeout=5), "the portal answered", child
        )
        token = CSRF.search(page.text)
        assert token is not None
        signed_in = session.post(
            f"{base}/sign-in",
            data={"username": "leader", "password": PASSWORD, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 303

        def case_page() -> str:
            answer = session.get(f"{base}/cases/{portal_id}", timeout=10)
            return answer.text if answer.status_code == 200 else ""

        before = _until(case_page, "the worker's first sync indexed the case", child)
        assert "Changed in the CRM while serving" not in before

        sandbox_crm_server.store.update_case(
            reference, {"title": "Changed in the CRM while serving"}
        )
        _until(
            lambda: "Changed in the CRM while serving" in case_page(),
            "the change reached the portal",
            child,
            seconds=30,
        )
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n--- caseload serve said:\n{log.read_text()}") from None
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
