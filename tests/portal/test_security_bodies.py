"""Request bodies are counted as they arrive and refused at their route's limit before anything
keeps them: on a real server (a 1 GB chunked body to /sign-in, watched on disk), and on every
route of the app, signed in or not, declared or chunked."""

from __future__ import annotations

import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from fastapi.routing import APIRoute

from portal_extensions.web.guard import all_routes
from portal_extensions.web.security import (
    FORM_MAX_BYTES,
    UPLOAD_ATTRIBUTE,
    UPLOAD_OVERHEAD_BYTES,
)
from tests.portal.conftest import sign_in
from tests.portal.web_fixtures import CASES, SECRET, build

GIB = 1024**3
CHUNK = 64 * 1024
BOUNDARY = "caseload-test-boundary"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempWatch(threading.Thread):
    """Polls what the server process holds in its temporary folder: files listed there and
    files it has open there (an unlinked spool file shows only as an open descriptor)."""

    def __init__(self, pid: int, folder: Path) -> None:
        super().__init__(daemon=True)
        self.pid, self.folder = pid, str(folder)
        self.most = 0
        self.stop = threading.Event()

    def held(self) -> int:
        total = sum(p.stat().st_size for p in Path(self.folder).rglob("*") if p.is_file())
        fds = Path(f"/proc/{self.pid}/fd")
        for fd in fds.iterdir() if fds.exists() else ():
            try:
                if os.readlink(fd).startswith(self.folder):
                    total += os.stat(fd).st_size
            except OSError:
                continue  # closed while we looked
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            self.most = max(self.most, self.held())
            time.sleep(0.01)


def _chunks(prefix: bytes, total: int) -> Iterator[bytes]:
    """`prefix`, then `total` bytes of file content in chunks, made as they are sent."""
    yield prefix
    block = b"x" * CHUNK
    for _ in range(total // CHUNK):
        yield block


def _stream(port: int, path: str, content_type: str, body: Iterator[bytes], watch: TempWatch):
    """Send a chunked POST until the server answers (or the watcher sees too much on disk, or
    the body ends); return the answer's status line and headers, and the bytes sent."""
    sock = socket.create_connection(("127.0.0.1", port))
    sent = 0
    try:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        sock.setblocking(False)
        pending = b""
        for chunk in body:
            pending += b"%x\r\n%s\r\n" % (len(chunk), chunk)
            while pending:
                readable, writable, _ = select.select([sock], [sock], [], 10)
                if readable or watch.most > FORM_MAX_BYTES:
                    break
                assert writable, "the server neither read nor answered for 10 s"
                try:
                    count = sock.send(pending)
                except (BrokenPipeError, ConnectionResetError):
                    break
                pending = pending[count:]
                sent += count
            if pending:
                break
        else:
            sock.sendall(b"0\r\n\r\n")
        sock.setblocking(True)
        sock.settimeout(10)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer.split(b"\r\n\r\n")[0].decode("latin-1"), sent
    finally:
        sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int, Path]]:
    """`caseload serve` on loopback, with a temporary folder of its own (TMPDIR)."""
    root = tmp_path_factory.mktemp("serve")
    spool = root / "tmp"
    spool.mkdir()
    config = root / "caseload.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\n\n[portal]\ncouncil_name = "Northshire"\nhttps = false\n',
        encoding="utf-8",
    )
    port = _free_port()
    env = {**os.environ, "CASELOAD_PORTAL_SECRET_KEY": SECRET, "TMPDIR": str(spool)}
    command = [sys.executable, "-m", "cli.main", "serve", "--config", str(config)]
    command += ["--port", str(port), "--no-worker"]
    child = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        deadline = time.monotonic() + 60
        while True:
            assert child.poll() is None, "caseload serve exited early"
            assert time.monotonic() < deadline, "caseload serve did not answer within 60 s"
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        yield port, child.pid, spool
    finally:
        child.terminate()
        try:
            child.wait(20)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@pytest.mark.parametrize(
    ("path", "content_type", "prefix"),
    [
        (
            "/sign-in",
            f"multipart/form-data; boundary={BOUNDARY}",
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="username"; '
                'filename="a.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode(),
        ),
        ("/sign-in", "application/x-www-form-urlencoded", b"username="),
        ("/api/v1/enquiries", "application/json", b'{"title": "'),
    ],
    ids=["multipart", "form", "json"],
)
def test_a_1_gb_chunked_body_is_refused_anonymously_before_it_is_kept(
    server: tuple[int, int, Path], path: str, content_type: str, prefix: bytes
) -> None:
    port, pid, spool = server
    watch = TempWatch(pid, spool)
    watch.start()
    started = time.monotonic()
    try:
        status, sent = _stream(port, path, content_type, _chunks(prefix, GIB), watch)
    finally:
        watch.stop.set()
        watch.join()
    assert status.startswith("HTTP/1.1 413"), status
    assert "connection: close" in status.lower()
    assert watch.most < FORM_MAX_BYTES, f"{watch.most} bytes held in the temporary folder"
    assert sent < GIB // 4, f"the server read on: {sent} bytes taken"
    assert time.monotonic() - started < 30
    # The server is unharmed and still answers.
    assert requests.get(f"http://127.0.0.1:{port}/sign-in", timeout=10).status_code == 200


# ------------------------------------------------------------------------ every route, in-app

CASE_ID = str(CASES[1].portal_id)  # alice's ward-shared case with a service


def _unsafe_routes() -> list[tuple[str, str, bool, bool]]:
    """Every route taking an unsafe method: (method, path, takes a file, reads a body)."""
    app = build().app
    found = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{[^}]+\}", CASE_ID, route.path_format)
        path = path.replace(f"attachments/{CASE_ID}", "attachments/DOC-1")
        upload = hasattr(route.endpoint, UPLOAD_ATTRIBUTE)
        for method in sorted((route.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            found.append((method, path, upload, route.body_field is not None))
    return found


UNSAFE = _unsafe_routes()


def _over(limit: int) -> Iterator[bytes]:
    """A body one byte over `limit`, sent chunked (no Content-Length)."""
    yield from _chunks(b"", limit - limit % CHUNK)
    yield b"x" * (limit % CHUNK + 1)


@pytest.mark.parametrize(
    ("method", "path", "upload", "reads_body"), UNSAFE, ids=[f"{r[0]} {r[1]}" for r in UNSAFE]
)
def test_every_route_refuses_a_body_over_its_limit_signed_in_or_not(
    method: str, path: str, upload: bool, reads_body: bool
) -> None:
    """Declared too long: refused before the route runs. Chunked: refused where it is read
    (a route that takes no body never reads it). Only a signed-in upload may send a file."""
    built = build(attachment_max_bytes=2048)
    anonymous = TestClient(built.app, follow_redirects=False)
    member = TestClient(built.app, follow_redirects=False)
    assert sign_in(member, "alice").status_code == 303
    token = member.get("/api/v1/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token, "Content-Type": "application/x-www-form-urlencoded"}
    for client in (anonymous, member):
        limit = 2048 + UPLOAD_OVERHEAD_BYTES if upload and client is member else FORM_MAX_BYTES
        declared = client.request(method, path, content=b"x" * (limit + 1), headers=headers)
        assert declared.status_code == 413, (client is member, declared.text[:200])
        if reads_body:
            chunked = client.request(method, path, content=_over(limit), headers=headers)
            assert chunked.status_code == 413, (client is member, chunked.text[:200])
    assert not [e for e in built.audit.events if e.action != "sign_in"], "nothing was recorded"


def test_a_too_large_page_answer_says_nothing_was_saved() -> None:
    client = TestClient(build().app, follow_redirects=False)
    page = client.post("/sign-in", content=b"u" * (FORM_MAX_BYTES + 1))
    assert page.status_code == 413 and "Nothing was saved" in page.text
    assert page.headers["connection"] == "close"
    api = client.post("/api/v1/sign-out", content=b"u" * (FORM_MAX_BYTES + 1))
    assert api.status_code == 413 and api.json()["error"] == "Too much was sent"
