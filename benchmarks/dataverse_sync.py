"""Dataverse sync benchmark: full sync of 10k sandbox incidents, then an incremental sync of 50.

The sandbox runs in its default mode in a process of its own; each phase runs in its own process
so wall time, CPU time and peak RSS belong to that phase only. Baseline measured in the same
run: the connector's bulk read alone (every page of `iter_changed_cases` with the profile's
`$expand`, parsed and dropped).

Goals (issue 11): the full sync indexes every case, the incremental sync picks up every one of
the 50 CRM-side changes and nothing else, peak RSS <= 300 MB; the full sync / bulk read ratio is
reported (mapping and the index writes are the rest of the cost).

Run: `python -m benchmarks.dataverse_sync [--cases 10000] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.store_sync import _cpu, _create_schema, _drop_schema, _metrics

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE = 2000
CHANGES = 50


def _client(crm: dict[str, str]) -> Any:
    from connector.dataverse import DataverseClient
    from connector.settings import CRMSettings

    return DataverseClient(
        CRMSettings(
            kind="dynamics365",
            endpoint=crm["dataverse"],
            token_url=crm["token"],
            allowed_hosts=["127.0.0.1"],
            client_id=crm["client_id"],
            client_secret=crm["client_secret"],
            auth_mode="oauth2",
            read_timeout=300,
            deadline=600,
        )
    )


def serve(cases: int) -> None:
    """Child: the sandbox CRM. Prints its endpoints, then obeys `touch N` / `quit` on stdin."""
    from connector.sandbox.crm import SandboxCRM

    crm = SandboxCRM(seed=1, cases=cases, anchor=ANCHOR)
    url = crm.start("127.0.0.1", 0)
    ends = crm.endpoints(url)
    print(
        json.dumps(
            {
                "dataverse": ends["dataverse"],
                "token": ends["token"],
                "client_id": crm.auth.client_id,
                "client_secret": crm.auth.client_secret,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        command = line.split()
        if command and command[0] == "touch":
            count = int(command[1])
            refs = sorted(crm.store.cases)[:: max(1, cases // count)][:count]
            for n, ref in enumerate(refs):
                if n % 2:
                    crm.store.update_case(ref, {"title": f"Benchmark change {ref}"})
                else:
                    crm.store.add_note(0, ref, f"Benchmark note {ref}", author="officer-1")
            print(json.dumps({"touched": len(refs)}), flush=True)
        elif command and command[0] == "quit":
            break
    crm.stop()


def phase(name: str, crm: dict[str, str], url: str, schema: str | None) -> None:
    """Child: one measured phase; prints its metrics as JSON."""
    client = _client(crm)
    if name == "read":
        wall, cpu = time.perf_counter(), _cpu()
        count = sum(len(page) for page in client.iter_changed_cases(EPOCH, page_size=PAGE))
        print(json.dumps(_metrics(wall, cpu, cases=count)))
        return
    from mappings import load_profile
    from portal_extensions.jobs.sync import Syncer
    from portal_extensions.store import Store, count_cases

    store = Store.open(url, schema=schema)
    syncer = Syncer(store, client, load_profile("dynamics365"), batch_size=PAGE)
    wall, cpu = time.perf_counter(), _cpu()
    report = syncer.run(full=name == "full")
    with store.read() as conn:
        indexed = count_cases(conn)
    print(
        json.dumps(
            _metrics(
                wall,
                cpu,
                cases=report.fetched,
                changed=report.upserts.inserted + report.upserts.updated,
                unmapped=report.unmapped,
                indexed=indexed,
            )
        )
    )


def _run_phase(name: str, crm: dict[str, str], url: str, schema: str | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.dataverse_sync", "--phase", name, "--url", url]
    if schema:
        command += ["--schema", schema]
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        command, input=json.dumps(crm), capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"benchmark phase {name!r} failed:\n{tail}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.cases)
        return 0
    if args.phase:
        phase(args.phase, json.loads(sys.stdin.read()), args.url, args.schema)
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        schema = _create_schema(url) if url.startswith("postgresql") else None
        print(f"seeding the sandbox with {args.cases} cases ...", flush=True)
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "benchmarks.dataverse_sync",
                "--serve",
                "--cases",
                str(args.cases),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            crm = json.loads(server.stdout.readline())
            read = _run_phase("read", crm, url, schema)
            full = _run_phase("full", crm, url, schema)
            time.sleep(1.1)  # the changes land in a later second than the full sync's end
            server.stdin.write(f"touch {CHANGES}\n")
            server.stdin.flush()
            touched = json.loads(server.stdout.readline())["touched"]
            incremental = _run_phase("incremental", crm, url, schema)
        finally:
            if server.stdin and not server.stdin.closed:
                server.stdin.write("quit\n")
                server.stdin.close()
            server.wait(60)
            if schema:
                _drop_schema(url, schema)

    ratio = full["wall_s"] / read["wall_s"] if read["wall_s"] else float("inf")
    print(f"database: {url.split(':')[0]}")
    print(f"bulk read alone (baseline): {read}")
    print(f"full sync:                  {full}")
    print(f"incremental ({touched} changed in the CRM): {incremental}")
    print(
        f"full sync / bulk read wall = {ratio:.2f}x; indexed {full['indexed']} of {args.cases} "
        f"(goal: all); incremental picked up {incremental['changed']} of {touched} (goal: all); "
        f"full sync peak RSS {full['peak_rss_mb']} MB (goal <= 300 MB)"
    )
    ok = (
        full["indexed"] == args.cases
        and full["unmapped"] == 0
        and incremental["changed"] == touched
        and full["peak_rss_mb"] <= 300
    )
    print("PASS" if ok else "MISSED a goal")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
