"""A hostile CRM cannot make the connector use unbounded memory or loop forever.

Each case streams its body from a real loopback server (tests/connector/hostile_server.py) to a
client with the default settings in a child process, which reports its peak RSS: every case ends
in a typed `CRMError`, with the whole child process under 300 MB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.connector.hostile_server import HostileServer

ROOT = Path(__file__).resolve().parents[2]
LIMIT_MB = 300

CASES = [
    # crm, operation, body, announced length, expected error, words of the message
    ("lagan", "get_case", "xml-small-elements", None, "CRMContractError", "elements"),
    ("lagan", "iter_changed_cases", "xml-small-elements", None, "CRMContractError", "elements"),
    ("lagan", "get_case", "xml-one-endless-item", None, "CRMContractError", "elements"),
    ("lagan", "get_case", "xml-junk-between-items", None, "CRMContractError", "byte limit"),
    ("lagan", "update_case", "xml-endless-text", None, "CRMContractError", "byte limit"),
    ("lagan", "update_case", "xml-endless-text", 2 * 1024**3, "CRMContractError", "announces"),
    ("dynamics365", "iter_changed_cases", "json-endless-page", None, "CRMContractError", "element"),
    ("dynamics365", "get_case", "json-endless-string", None, "CRMContractError", "byte limit"),
    ("dynamics365", "get_case", "json-endless-page", 2 * 1024**3, "CRMContractError", "announces"),
    ("dynamics365", "get_case", "json-deep", None, "CRMContractError", "levels deep"),
    ("dynamics365", "iter_changed_cases", "json-self-link", None, "CRMContractError", "already"),
]


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[HostileServer]:
    mode, length = request.param
    hostile = HostileServer(mode, content_length=length)
    yield hostile
    hostile.close()


@pytest.mark.parametrize(
    ("crm", "operation", "server", "error", "words"),
    [
        pytest.param(crm, op, (mode, length), error, words, id=f"{crm}-{op}-{mode}-{length}")
        for crm, op, mode, length, error, words in CASES
    ],
    indirect=["server"],
)
def test_hostile_answer_ends_in_a_typed_error_under_300_mb(
    server: HostileServer, crm: str, operation: str, error: str, words: str
) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-m", "tests.connector.hostile_server", crm, operation, server.base],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    outcome = json.loads(child.stdout.strip().splitlines()[-1])
    assert outcome["error"] == error, outcome
    assert words in str(outcome["message"]), outcome
    assert float(outcome["peak_mb"]) < LIMIT_MB, outcome
    # The client stopped reading: the server never got near its own ceiling.
    assert server.sent < 200 * 1024 * 1024
