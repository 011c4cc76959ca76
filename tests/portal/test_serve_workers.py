"""`caseload serve --workers 2`: two real worker processes answer, and a sign-in made through one
is honoured by the other (sessions live in the store), as is a sign-out."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from portal_extensions.store.accounts import create_user
from portal_extensions.store.database import Store
from tests.portal.web_fixtures import SECRET

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "caseload serve exited early"
        try:
            if requests.get(f"{base}/sign-in", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError("caseload serve did not answer within 60 s")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        command = (stat.parent / "cmdline").read_bytes() if int(fields[1]) == pid else b""
        if b"spawn_main" in command:  # a worker, not multiprocessing's resource tracker
            found.append(int(stat.parent.name))
    return found


def _answers(base: str, cookie: str, times: int) -> list[int]:
    """The Directory page's status, asked `times` times with this session cookie, on a new
    connection each time, so the kernel spreads the requests over both workers."""
    return [
        requests.get(
            f"{base}/directory",
            cookies={"caseload_session": cookie},
            allow_redirects=False,
            timeout=10,
            headers={"Connection": "close"},
        ).status_code
        for _ in range(times)
    ]


def test_two_workers_share_every_session(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "caseload.toml"
    config.write_text(
        f'data_dir = "{data}"\n\n[portal]\ncouncil_name = "Northshire"\nhttps = false\n',
        encoding="utf-8",
    )
    data.mkdir()
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
    child = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)  # noqa: S603
    try:
        _wait_until_up(base, child)
        assert len(_children(child.pid)) == 2, "two worker processes run"
        session = requests.Session()
        token = CSRF.search(session.get(f"{base}/sign-in", timeout=10).text)
        assert token is not None
        signed_in = session.post(
            f"{base}/sign-in",
            data={"username": "admin1", "password": "p" * 16, "csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert signed_in.status_code == 303
        cookie = session.cookies.get("caseload_session")
        assert cookie is not None
        assert _answers(base, cookie, 30) == [200] * 30
        page = session.get(f"{base}/directory", timeout=10)
        token = CSRF.search(page.text)
        assert token is not None
        session.post(
            f"{base}/sign-out",
            data={"csrf_token": token.group(1)},
            allow_redirects=False,
            timeout=10,
        )
        assert _answers(base, cookie, 10) == [303] * 10, "the copied cookie is refused by all"
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
