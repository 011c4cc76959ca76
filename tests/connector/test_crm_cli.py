"""`caseload crm` commands against the in-process sandbox."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from connector.residency import HostAllowlist

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_dns(monkeypatch) -> None:
    monkeypatch.setattr(HostAllowlist, "_check_resolution", lambda self, host, op: None)


def _config(tmp_path: Path, handle, monkeypatch, **extra: str) -> Path:
    host = handle.base_url.split("://", 1)[1].split(":")[0]
    lines = [
        "[crm]",
        f'endpoint = "{handle.fl_url}"',
        f'auth_endpoint = "{handle.flauth_url}"',
        f'allowed_hosts = ["{host}"]',
        f'username = "{handle.username}"',
        "retry_attempts = 2",
    ] + [f'{k} = "{v}"' for k, v in extra.items()]
    path = tmp_path / "caseload.toml"
    path.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", handle.password)
    return path


@pytest.mark.sandbox_crm(cases=5)
def test_get_raw_prints_the_crm_record(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    ref = sandbox_crm.find_cases()[0]["ref"]
    result = runner.invoke(app, ["crm", "get", ref, "--raw", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["CoreDetails"]["CaseReference"] == ref


@pytest.mark.sandbox_crm(cases=5)
def test_operations_lists_the_wsdl_operations(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    result = runner.invoke(app, ["crm", "operations", "--config", str(config)])
    assert result.exit_code == 0
    assert "createCase" in result.output.split()


def test_misspelt_setting_exits_2_with_the_key(tmp_path) -> None:
    path = tmp_path / "caseload.toml"
    path.write_text('[crm]\nendpoint = "https://x/FL"\nalowed_hosts = []\n')
    result = runner.invoke(app, ["crm", "check", "--config", str(path)])
    assert result.exit_code == 2
    assert "crm.allowed_hosts" in result.output


PROBES = ["allowlist", "wsdl-hash", "dns", "tls", "auth", "latency"]
#: Once a Lagan client could be built: what its FL search offers (extension, result cap).
SEARCH = "fl-search"


def _check(config: Path) -> tuple[int, dict[str, str]]:
    """Exit code and {probe name: "ok"/"FAIL"} from `caseload crm check`."""
    result = runner.invoke(app, ["crm", "check", "--config", str(config)])
    lines = [line.split(maxsplit=2) for line in result.output.splitlines() if line.strip()]
    names = [line[1] for line in lines]
    assert names in (PROBES, [*PROBES, SEARCH]), result.output
    return result.exit_code, {line[1]: line[0] for line in lines}


@pytest.mark.sandbox_crm(cases=5)
def test_check_passes_every_probe_against_a_healthy_crm(
    sandbox_crm_server, tmp_path, monkeypatch
) -> None:
    config = _config(tmp_path, sandbox_crm_server, monkeypatch)
    code, marks = _check(config)
    assert code == 0
    assert set(marks.values()) == {"ok"}
    assert SEARCH in marks


@pytest.mark.sandbox_crm(cases=5)
def test_check_fails_auth_when_the_password_is_wrong_and_never_prints_it(
    sandbox_crm_server, tmp_path, monkeypatch
) -> None:
    config = _config(tmp_path, sandbox_crm_server, monkeypatch)
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", "wrong-password")
    result = runner.invoke(app, ["crm", "check", "--config", str(config)])
    assert "wrong-password" not in result.output
    code, marks = _check(config)
    assert code == 1
    failed = {"auth": "FAIL", "latency": "FAIL", SEARCH: "FAIL"}
    assert marks == dict.fromkeys(PROBES, "ok") | failed


@pytest.mark.sandbox_crm(cases=5)
def test_check_reports_a_wsdl_that_does_not_match_its_pin(
    sandbox_crm_server, tmp_path, monkeypatch
) -> None:
    config = _config(tmp_path, sandbox_crm_server, monkeypatch, wsdl_sha256="0" * 64)
    code, marks = _check(config)
    assert code == 1
    assert marks["wsdl-hash"] == "FAIL" and marks["auth"] == "FAIL"
    assert marks["allowlist"] == marks["dns"] == "ok"


def test_check_refuses_an_endpoint_off_the_allowlist_without_contacting_it(
    tmp_path, monkeypatch
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    path = tmp_path / "caseload.toml"
    path.write_text(
        f'[crm]\nendpoint = "http://127.0.0.1:{port}/lagan/services/FL"\n'
        'allowed_hosts = ["crm.council.gov.uk"]\nusername = "svc"\n'
    )
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", "pw")
    try:
        code, marks = _check(path)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    finally:
        listener.close()
    assert code == 1
    assert marks == dict.fromkeys(PROBES, "FAIL") | {"wsdl-hash": "ok"}


@pytest.mark.sandbox_crm(cases=5)
def test_get_prints_the_mapped_case_by_default(sandbox_crm, tmp_path, monkeypatch) -> None:
    config = _config(tmp_path, sandbox_crm, monkeypatch)
    result = runner.invoke(app, ["crm", "get", "101000000001", "--config", str(config)])
    assert result.exit_code == 0, result.output
    mapped = json.loads(result.output)
    assert mapped["member_id"].startswith("cllr-")
    assert "CoreDetails" not in mapped


@pytest.mark.parametrize(("status", "kind"), [(404, "an HTML page"), (502, "HTTP 502")])
def test_check_against_a_proxy_page_names_it_and_prints_no_traceback(
    tmp_path, monkeypatch, status: int, kind: str
) -> None:
    """A wrong path or a proxy in front of FL answers HTML: one FAIL line, no traceback."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Proxy(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b"<!DOCTYPE html><html><body><h1>Bad gateway</h1></body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "caseload.toml"
    path.write_text(
        f'[crm]\nendpoint = "http://127.0.0.1:{server.server_port}/lagan/services/FL"\n'
        'allowed_hosts = ["127.0.0.1"]\nusername = "svc"\nretry_attempts = 1\n'
    )
    monkeypatch.setenv("CASELOAD_CRM_PASSWORD", "pw")
    try:
        result = runner.invoke(app, ["crm", "check", "--config", str(path)])
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    auth = next(line for line in result.output.splitlines() if " auth " in f" {line} ")
    assert auth.startswith("FAIL") and "retrieveCodeBook" in auth and kind in auth
