"""Bulk read benchmark: the connector's streaming Lagan read against a plain lxml baseline.

    python -m benchmarks.connector_bulk_read [--cases 100000] [--zeep-cases 2000]

The sandbox CRM runs in a separate process (so its CPU and memory are not counted). Each path
runs in a fresh child process that reports its own CPU time and peak RSS:
- baseline: one streamed searchAndRetrieveCaseDetails (the sandbox is started with a search
  cap of 10,000 cases per answer), `lxml.etree.iterparse` -> dicts -> pydantic; per case;
- connector: `LaganClient.iter_changed_cases` (windowed pages, hardened streaming parser,
  residency checks, retries, deadlines) -> the same pydantic model;
- zeep: zeep's object layer on `--zeep-cases` cases -> `zeep_to_raw` -> pydantic, reported per
  case beside the others (zeep on 100k cases would need gigabytes).
Targets: connector CPU <= 2x baseline, connector peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

SINCE = datetime(1990, 1, 1, tzinfo=UTC)
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
FL = "http://www.lagan.com/wsdl/FLTypes"


class CaseRow(BaseModel):
    """What a sync keeps of a case: enough to make both paths do the same validation work."""

    reference: str
    status: str
    opened: datetime
    title: str | None = None
    category: int | None = None
    form: dict[str, str]


def to_row(raw: dict[str, Any]) -> CaseRow:
    core = raw.get("CoreDetails", {})
    fields = raw.get("Form", {}).get("FormField", []) if isinstance(raw.get("Form"), dict) else []
    return CaseRow(
        reference=core.get("CaseReference", ""),
        status=core.get("Status", ""),
        opened=core.get("Opened", ""),
        title=core.get("Title") or None,
        category=core.get("Category") or None,
        form={f.get("Key", ""): f.get("Value", "") for f in fields},
    )


def _sandbox_password() -> str:
    from connector.sandbox.app import AuthConfig

    return os.environ.get("SANDBOX_PASSWORD") or AuthConfig().password


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _settings(url: str) -> Any:
    from connector.settings import CRMSettings

    return CRMSettings(
        endpoint=f"{url}/lagan/services/FL",
        allowed_hosts=["127.0.0.1"],
        username="caseload",
        password=_sandbox_password(),
        auth_mode="basic",
        deadline=600,
        read_timeout=300,
        retry_attempts=1,
    )


def run_connector(url: str, page_size: int) -> dict[str, Any]:
    from connector.lagan import LaganClient

    client = LaganClient(_settings(url))
    start_cpu = time.process_time()
    count = 0
    from connector.lagan.search import EPOCH

    for page in client.iter_changed_cases(EPOCH, page_size=page_size):  # a full read
        for raw in page:
            to_row(raw)
            count += 1
    return {"cases": count, "cpu": time.process_time() - start_cpu, "peak_mb": _peak_mb()}


def _generic(elem: Any) -> Any:
    children = list(elem)
    if not children:
        return elem.text or ""
    out: dict[str, Any] = {}
    for child in children:
        name = child.tag.rsplit("}", 1)[-1]
        value = _generic(child)
        if name in out:
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        elif name == "FormField":
            out[name] = [value]
        else:
            out[name] = value
    return out


def run_baseline(url: str) -> dict[str, Any]:
    import requests
    from lxml import etree

    from connector.lagan import LaganClient

    client = LaganClient(_settings(url))
    search = client.search.build({"CreatedAfter": SINCE, "ResultsLimit": 10_000_000})
    body = (
        f'<fl:FWTSearchAndRetrieveCase xmlns:fl="{FL}">'
        + etree.tostring(search).decode()
        + "<Option>all</Option></fl:FWTSearchAndRetrieveCase>"
    )
    envelope = (
        f'<soapenv:Envelope xmlns:soapenv="{ENV}"><soapenv:Body>'
        + body
        + "</soapenv:Body></soapenv:Envelope>"
    ).encode()
    session = requests.Session()
    start_cpu = time.process_time()
    resp = session.post(
        f"{url}/lagan/services/FL",
        data=envelope,
        headers={"Content-Type": "text/xml", "SOAPAction": '"http://www.lagan.com/wsdl/FLService"'},
        auth=("caseload", _sandbox_password()),
        stream=True,
    )
    resp.raw.decode_content = True
    count = 0
    for _, elem in etree.iterparse(resp.raw, events=("end",), tag=f"{{{FL}}}FWTCaseFullDetails"):
        to_row(_generic(elem))
        count += 1
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return {"cases": count, "cpu": time.process_time() - start_cpu, "peak_mb": _peak_mb()}


def run_zeep(url: str, cases: int) -> dict[str, Any]:
    from connector.lagan import LaganClient, zeep_to_raw

    client = LaganClient(_settings(url))
    start_cpu = time.process_time()
    result = client._call(
        "searchAndRetrieveCaseDetails",
        lambda: client._zeep(
            "searchAndRetrieveCaseDetails",
            FWTCaseSearch={"ResultsLimit": cases},
            Option=["all"],
        ),
        idempotent=True,
    )
    count = 0
    for item in result or []:
        to_row(zeep_to_raw(item, client.case_type))
        count += 1
    return {"cases": count, "cpu": time.process_time() - start_cpu, "peak_mb": _peak_mb()}


def _child(phase: str, url: str, arg: int) -> dict[str, Any]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "benchmarks.connector_bulk_read",
            "--phase",
            phase,
            "--url",
            url,
            "--arg",
            str(arg),
        ],
        check=True,
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 600) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the sandbox server exited")
        try:
            requests.get(f"{url}/lagan/services/FL?WSDL", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.5)
    raise SystemExit("the sandbox server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--zeep-cases", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=2_000)
    parser.add_argument("--phase", choices=["connector", "baseline", "zeep"])
    parser.add_argument("--url")
    parser.add_argument("--arg", type=int, default=0)
    args = parser.parse_args()
    if args.phase:
        runner = {"connector": run_connector, "baseline": run_baseline, "zeep": run_zeep}
        func: Any = runner[args.phase]
        result = func(args.url) if args.phase == "baseline" else func(args.url, args.arg)
        print(json.dumps(result))
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "cli.main",
            "sandbox",
            "--port",
            str(port),
            "--cases",
            str(args.cases),
            "--auth",
            "basic",
            # One answer may hold a 10,000-case sample for the baseline; the connector still
            # reads in windows split wherever an answer may have been cut.
            "--search-cap",
            "10000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_ready(url, server)
        baseline = _child("baseline", url, 0)
        connector = _child("connector", url, args.page_size)
        zeep_run = _child("zeep", url, args.zeep_cases)
    finally:
        server.terminate()
        server.wait(10)
    per = {
        k: v["cpu"] / max(v["cases"], 1) * 1e6
        for k, v in (("baseline", baseline), ("connector", connector), ("zeep", zeep_run))
    }
    # Per case: the sandbox caps one answer at 10,000 cases, so the baseline reads a sample.
    ratio = per["connector"] / per["baseline"]
    print(
        f"cases: baseline {baseline['cases']}, connector {connector['cases']}, "
        f"zeep {zeep_run['cases']}"
    )
    print(
        f"baseline  (lxml iterparse -> dicts -> pydantic): {baseline['cpu']:.2f}s CPU, "
        f"{per['baseline']:.0f} us/case, peak RSS {baseline['peak_mb']:.0f} MB"
    )
    print(
        f"connector (streaming, hardened, paged):          {connector['cpu']:.2f}s CPU, "
        f"{per['connector']:.0f} us/case, peak RSS {connector['peak_mb']:.0f} MB"
    )
    print(
        f"zeep objects ({zeep_run['cases']} cases):                   "
        f"{per['zeep']:.0f} us/case ({per['zeep'] / per['baseline']:.1f}x baseline), "
        f"peak RSS {zeep_run['peak_mb']:.0f} MB"
    )
    print(
        f"connector/baseline CPU per case: {ratio:.2f}x (target <= 2x): "
        f"{'PASS' if ratio <= 2 else 'FAIL'}"
    )
    print(
        f"connector peak memory: {connector['peak_mb']:.0f} MB (target <= 300 MB): "
        f"{'PASS' if connector['peak_mb'] <= 300 else 'FAIL'}"
    )


if __name__ == "__main__":
    main()
