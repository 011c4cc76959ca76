"""A real HTTP server for the sandbox (stdlib ThreadingHTTPServer) with socket-level faults.

The stdlib server gives direct access to the socket, which the faults need: a reset is a close
with SO_LINGER 0 (the peer sees ECONNRESET), a black hole keeps the connection open and silent
until the server stops, a slow drip writes the response a few bytes at a time, and a lost
response closes the connection after the store has committed the write.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connector.sandbox.app import MAX_BODY, Response, SandboxApp

log = logging.getLogger("caseload.sandbox.server")


class _Handler(BaseHTTPRequestHandler):
    server: SandboxHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = "CaseloadSandbox/1.0"
    # Headers and body go out in separate writes: without this, Nagle + delayed ACK add ~40 ms.
    disable_nagle_algorithm = True

    _started = 0.0

    def handle_one_request(self) -> None:
        self._started = time.monotonic()
        super().handle_one_request()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Method, path, status and time only: a query string can name a constituent
        # (Dataverse `$filter=lastname eq '...'`, postcodes), and headers carry credentials.
        path = (self.path or "").split("?", 1)[0]
        status = int(code) if isinstance(code, int) else str(code)
        elapsed_ms = (time.monotonic() - self._started) * 1000
        log.debug("%s %s %s %.1fms", self.command or "-", path, status, elapsed_ms)

    def log_message(self, format: str, *args: object) -> None:
        # Only `log_error` still comes here. Its arguments can quote the raw request line
        # (query string included), so only an HTTP status among them is kept.
        status = next((a for a in args if isinstance(a, int)), None)
        log.debug("request refused before handling (status %s)", status or "-")

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413, "request body larger than the sandbox's 10 MB limit")
            return
        body = self.rfile.read(length) if length else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        response = self.server.app.handle(
            self.command, url.path, query, dict(self.headers.items()), body
        )
        self._respond(response)

    do_GET = _serve
    do_POST = _serve
    do_PATCH = _serve
    do_PUT = _serve
    do_DELETE = _serve

    def _respond(self, response: Response) -> None:
        action = response.action
        if action in ("reset", "lose_response"):
            self._reset()
            return
        if action == "blackhole":
            self.server.stopping.wait()
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if action == "drip":
            step = max(1, response.drip_bps // 10)
            for i in range(0, len(response.body), step):
                if self.server.stopping.is_set():
                    break
                self.wfile.write(response.body[i : i + step])
                self.wfile.flush()
                time.sleep(step / response.drip_bps)
        else:
            self.wfile.write(response.body)

    def _reset(self) -> None:
        self.close_connection = True
        # A platform without SO_LINGER still closes; the peer then sees EOF, not a reset.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.stopping = threading.Event()

    @property
    def base_url(self) -> str:
        raw_host, port = self.server_address[:2]
        host = raw_host.decode() if isinstance(raw_host, bytes) else str(raw_host)
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


class RunningServer:
    """A server on a background thread; `stop()` ends it and releases black-holed requests."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        # app.base_url stays as configured: when None, WSDL locations and nextLinks follow the
        # request's Host header, which is right even when bound to 0.0.0.0.
        self.httpd = SandboxHTTPServer((host, port), app)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="caseload-sandbox",
            daemon=True,
        )

    @property
    def base_url(self) -> str:
        return self.httpd.base_url

    def start(self) -> RunningServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
