"""Sync benchmarks: full sync of 100k sandbox cases, and an incremental sync of 100 changes.

Baseline measured in the same run: the connector's bulk read alone (every page of
`iter_changed_cases`, parsed into raw records and dropped). Each phase runs in its own process
so wall time, CPU time and peak RSS belong to that phase only; the sandbox CRM (which holds the
100k cases) runs in a process of its own too.

Goals (issue 5): full sync <= 2x the bulk read, peak RSS <= 300 MB; incremental sync of 100
changed cases < 2 s.

Run: `python -m benchmarks.store_sync [--cases 100000] [--database-url URL]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAGE = 500


def _metrics(started_wall: float, started_cpu: float, **extra: Any) -> dict[str, Any]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall_s": round(time.perf_counter() - started_wall, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime - started_cpu, 3),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        **extra,
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _client(crm: dict[str, str]) -> Any:
    from connector.factory import build_client
    from connector.settings import CRMSettings

    return build_client(
        CRMSettings(
            kind="lagan",
            endpoint=crm["fl"],
            auth_endpoint=crm["flauth"],
            allowed_hosts=["127.0.0.1"],
            username=crm["user"],
            password=crm["password"],
            read_timeout=300,
            deadline=600,
        ),
        shared=False,
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
                "fl": ends["fl"],
                "flauth": ends["flauth"],
                "user": crm.auth.username,
                "password": crm.auth.password,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        command = line.split()
        if command and command[0] == "touch":
            refs = sorted(crm.store.cases)[:: max(1, cases // int(command[1]))][: int(command[1])]
            for ref in refs:
                crm.store.update_case(ref, {"title": f"Benchmark change {ref}"})
            print(json.dumps({"touched": len(refs)}), flush=True)
        elif command and command[0] == "quit":
            break
    crm.stop()


def phase(name: str, crm: dict[str, str], url: str, schema: str | None) -> None:
    """Child: one measured phase; prints its metrics as JSON."""
    wall, cpu = time.perf_counter(), _cpu()
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
    syncer = Syncer(store, client, load_profile("lagan"), batch_size=PAGE)
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
                indexed=indexed,
            )
        )
    )


def _run_phase(name: str, crm: dict[str, str], url: str, schema: str | None) -> dict[str, Any]:
    command = [sys.executable, "-m", "benchmarks.store_sync", "--phase", name, "--url", url]
    if schema:
        command += ["--schema", schema]
    out = subprocess.run(  # noqa: S603 - our own interpreter and module
        command,
        input=json.dumps(crm),
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-3:])
        raise SystemExit(f"benchmark phase {name!r} failed:\n{tail}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _create_schema(url: str) -> str:
    """PostgreSQL: a schema of its own for this run, so nothing else is touched."""
    import uuid

    import sqlalchemy as sa

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema


def _drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=100_000)
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
            [sys.executable, "-m", "benchmarks.store_sync", "--serve", "--cases", str(args.cases)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdin is not None and server.stdout is not None
        try:
            crm = json.loads(server.stdout.readline())
            read = _run_phase("read", crm, url, schema)
            full = _run_phase("full", crm, url, schema)
            server.stdin.write("touch 100\n")
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
    print(f"incremental ({touched} changed): {incremental}")
    print(
        f"full sync / bulk read wall = {ratio:.2f}x (goal <= 2x); "
        f"full sync peak RSS {full['peak_rss_mb']} MB (goal <= 300 MB); "
        f"incremental {incremental['wall_s']:.2f} s (goal < 2 s)"
    )
    ok = ratio <= 2 and full["peak_rss_mb"] <= 300 and incremental["wall_s"] < 2
    print("PASS" if ok else "MISSED a goal")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
