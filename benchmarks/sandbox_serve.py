"""Time for the sandbox to serve searchAndRetrieveCaseDetails for 1,000 cases over HTTP.

Baseline measured in the same run: one retrieveCaseDetails round trip (median of 50). Reports the
bulk call's wall time, its per-case cost and the ratio of that to the single-case baseline.
Run: `python -m benchmarks.sandbox_serve`.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import UTC, datetime

import requests
from lxml import etree

from connector.sandbox.crm import SandboxCRM
from connector.sandbox.schema import safe_parser

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def envelope(body: str, user: str, password: str) -> bytes:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:fl="http://www.lagan.com/wsdl/FLTypes"><soapenv:Header>'
        f'<wsse:Security xmlns:wsse="{WSSE}"><wsse:UsernameToken><wsse:Username>{user}'
        f"</wsse:Username><wsse:Password>{password}</wsse:Password></wsse:UsernameToken>"
        f"</wsse:Security></soapenv:Header><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def main(cases: int = 1000) -> int:
    crm = SandboxCRM(seed=1, cases=max(cases, 2000), anchor=datetime(2026, 1, 1, tzinfo=UTC))
    user, password = crm.auth.username, crm.auth.password
    ref = next(iter(crm.store.cases))
    with crm.serve() as url, requests.Session() as http:
        fl = f"{url}/lagan/services/FL"
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        single = envelope(
            f"<fl:FWTCaseFullDetailsRequest><fl:CaseReference>{ref}</fl:CaseReference>"
            "<Option>all</Option></fl:FWTCaseFullDetailsRequest>",
            user,
            password,
        )
        times = []
        for _ in range(50):
            started = time.perf_counter()
            r = http.post(fl, data=single, headers=headers, timeout=30)
            r.raise_for_status()
            times.append(time.perf_counter() - started)
        base = statistics.median(times)
        bulk = envelope(
            f"<fl:FWTSearchAndRetrieveCase><fl:FWTCaseSearch><ResultsLimit>{cases}</ResultsLimit>"
            "</fl:FWTCaseSearch><Option>all</Option></fl:FWTSearchAndRetrieveCase>",
            user,
            password,
        )
        runs = []
        for _ in range(3):
            started = time.perf_counter()
            r = http.post(fl, data=bulk, headers=headers, timeout=120)
            r.raise_for_status()
            runs.append(time.perf_counter() - started)
        root = etree.fromstring(r.content, safe_parser())
        got = len(root.findall(".//{http://www.lagan.com/wsdl/FLTypes}FWTCaseFullDetails"))
    best = min(runs)
    print(f"baseline: retrieveCaseDetails round trip {base * 1000:.1f} ms (median of 50)")
    print(
        f"searchAndRetrieveCaseDetails for {got:,} cases: best {best:.2f} s of 3 "
        f"({len(r.content) / 1e6:.1f} MB, {best / got * 1000:.2f} ms/case)"
    )
    print(f"per-case cost ratio (bulk/single round trip): {best / got / base:.3f}")
    return 0 if got == cases else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
