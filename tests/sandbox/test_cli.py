"""`caseload sandbox` serves until interrupted, prints endpoints, and validates its options."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import requests
from typer.testing import CliRunner

from cli.main import app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sandbox_serves_prints_endpoints_and_stops_on_ctrl_c() -> None:
    port = _free_port()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
        [
            sys.executable,
            "-m",
            "cli.main",
            "sandbox",
            "--port",
            str(port),
            "--seed",
            "1",
            "--cases",
            "50",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line:
                break
        out = "".join(lines)
        assert f"http://127.0.0.1:{port}/lagan/services/FL?WSDL" in out
        assert "caseload" in out and "client_id" in out
        r = requests.get(f"http://127.0.0.1:{port}/lagan/services/FL?WSDL", timeout=5)
        assert r.status_code == 200 and "FWTCaseCreate" in r.text
    finally:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "sandbox stopped" in rest


def test_bad_fault_spec_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["sandbox", "--faults", "createCase:nope=1"])
    assert result.exit_code == 2
    assert "unknown setting" in result.output


def test_directory_command_prints_the_council_as_json() -> None:
    result = CliRunner().invoke(app, ["sandbox", "directory", "--seed", "1"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert len(data["members"]) == 18 and len(data["services"]) == 12
