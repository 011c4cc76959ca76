"""Reports at 100k cases: each report's p95 on SQLite and PostgreSQL, against one COUNT(*).

Builds a store holding `benchmarks.portal_latency`'s council (6 wards, 18 members, 12 services)
and `--cases` mapped cases indexed with the store's own `upsert_cases`, each case with a
service sent a request to that service (sent, due and, for most, answered: the timeliness
figures' input). Then, for `--runs` runs after a warm-up, it times what each report costs
its page: the figures through the access policy (`reports.Reports`) and every chart drawn:

* team leader, Reports page (volumes by six dimensions, trend, timeliness) over 12 months;
* member, Reports page (their own cases, ward and council totals);
* Members' Services, Reports page (the four members they support);
* service officer, Reports page (their service's timeliness);
* team leader, the published scrutiny report over the last complete half-year.

Baseline, the same run, same store: one plain `SELECT count(*)` of the live cases over the
index. Each report's figure is reported as a ratio to it. The PDF of the scrutiny report is
timed too (not a page: a download), for information.

Goal (issue 14): every report's p95 <= 500 ms on both databases.

Run: `python -m benchmarks reports` or `python -m benchmarks.reports [--cases 100000]
[--runs 30] [--backends sqlite,postgresql] [--database-url postgresql+psycopg://...]`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.portal_latency import (
    BATCH,
    SERVICES,
    _commit,
    _create_schema,
    _drop_schema,
    council,
    make_case,
    percentile,
    seed_directory,
)
from mappings.model import COUNCIL_ZONE, MemberCase, ServiceRequest
from portal_extensions.access import Role, Viewer, council_day
from portal_extensions.casework.working_days import add_working_days
from portal_extensions.reports.charts import render
from portal_extensions.reports.document import scrutiny_pdf
from portal_extensions.reports.service import Reports
from portal_extensions.store import IndexedCase, Store, upsert_cases
from portal_extensions.store.directory import StoreDirectory
from portal_extensions.store.reports import StoreReports

GOAL_P95_MS = 500.0
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RAISED_BY = [("councillor", 70), ("staff", 18), ("mp", 6), ("msp", 2), ("ms", 2), ("mep", 2)]
TARGETS = {service_id: days for service_id, _name, days in SERVICES}


def _with_request(item: IndexedCase, rng: random.Random, now: datetime) -> IndexedCase:
    """The case with who raised it and, if it has a service, its request to that service.

    As in the demo council (`connector/sandbox/seed.py`), cases older than 120 days are
    mostly closed: a council does not hold half of four years' enquiries open."""
    case = item.case
    raised_by = rng.choices([r for r, _ in RAISED_BY], weights=[w for _, w in RAISED_BY])[0]
    data = case.model_dump()
    data["raised_by"] = raised_by
    if (now - case.received_at).days > 120 and case.status.value != "closed" and rng.random() < 0.9:
        data["status"] = "closed"
        data["closed_at"] = case.received_at + timedelta(days=rng.randint(1, 60))
        data["closure_reason"] = "Resolved by the service"
    if case.service_id is not None:
        sent = min(case.received_at + timedelta(hours=rng.randint(1, 72)), now)
        sent_day = sent.astimezone(COUNCIL_ZONE).date()
        answered = None
        if rng.random() < 0.85:
            answered = min(sent + timedelta(days=rng.randint(0, 25), hours=rng.randint(0, 8)), now)
        data["service_requests"] = [
            ServiceRequest(
                service_id=case.service_id,
                sent_at=sent,
                response_due=add_working_days(sent_day, TARGETS[case.service_id]),
                responded_at=answered,
            ).model_dump()
        ]
    return IndexedCase(MemberCase.model_validate(data), item.crm_modified_at)


def fill(store: Store, count: int, now: datetime, seed: int) -> float:
    """The council and `count` cases; returns the seconds it took."""
    started = time.perf_counter()
    people = council()
    seed_directory(store, people)
    rng = random.Random(seed)
    extra = random.Random(seed + 7)
    done = 0
    while done < count:
        size = min(BATCH, count - done)
        batch = [
            _with_request(make_case(done + k, rng, people, now), extra, now) for k in range(size)
        ]
        with store.write() as conn:
            upsert_cases(conn, batch, now=now)
        done += size
    return time.perf_counter() - started


def _timed(runs: int, work: Callable[[], object]) -> dict[str, float]:
    for _ in range(3):  # warm-up: statement caches, the directory's names, the OS's pages
        work()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - started)
    return {
        "runs": runs,
        "p50_ms": round(percentile(seconds, 50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 95) * 1000, 1),
        "max_ms": round(max(seconds) * 1000, 1),
    }


def measure(store: Store, runs: int, now: datetime) -> dict[str, Any]:
    people = council()
    rows = StoreReports(store)
    reports = Reports(
        rows, StoreDirectory(store), nation="england", threshold=5, council_name="Benchmark"
    )
    member = people[0]
    viewers = {
        "team leader, Reports": Viewer("tl", Role.TEAM_LEADER),
        "member, Reports": Viewer(
            "m", Role.MEMBER, member_id=member.id, party=member.party_id, ward_id=member.ward_id
        ),
        "members' services, Reports": Viewer(
            "ms", Role.MEMBERS_SERVICES, supported_member_ids=frozenset(p.id for p in people[:4])
        ),
        "service officer, Reports": Viewer(
            "so", Role.SERVICE_OFFICER, service_ids=frozenset({SERVICES[0][0]})
        ),
    }

    def page(viewer: Viewer) -> Callable[[], object]:
        def work() -> object:
            query = reports.query(viewer, {}, now, scrutiny=False)
            report = reports.report(viewer, query, now)
            return [render(table) for table in report.all_tables]

        return work

    leader = viewers["team leader, Reports"]

    def scrutiny() -> object:
        query = reports.query(leader, {}, now, scrutiny=True)
        report = reports.scrutiny(leader, query, now)
        return [render(table) for table in report.tables]

    found: dict[str, Any] = {"baseline: count(*)": _timed(runs, rows.count_all)}
    for name, viewer in viewers.items():
        found[name] = _timed(runs, page(viewer))
    found["team leader, scrutiny (published)"] = _timed(runs, scrutiny)
    query = reports.query(leader, {}, now, scrutiny=True)
    document = reports.scrutiny(leader, query, now)
    found["scrutiny PDF (download, for information)"] = _timed(
        max(3, runs // 10), lambda: scrutiny_pdf(document)
    )
    base = found["baseline: count(*)"]["p95_ms"] or 0.1
    for figures in found.values():
        figures["x_baseline"] = round(figures["p95_ms"] / base, 1)
    return found


def run_backend(backend: str, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="caseload-bench-reports-") as tmp:
        schema = None
        if backend == "sqlite":
            store = Store.open(f"sqlite:///{Path(tmp) / 'caseload.sqlite'}")
        else:
            schema = _create_schema(args.database_url)
            store = Store.open(args.database_url, schema=schema)
        try:
            seeded = fill(store, args.cases, now, args.seed)
            if backend == "postgresql":
                # What autovacuum does soon after a bulk load: statistics, and the visibility
                # map that lets PostgreSQL answer from an index alone.
                from sqlalchemy import text

                with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    for table in ("cases", "case_service_requests", "members", "parties"):
                        conn.execute(text(f"VACUUM ANALYZE {table}"))
            result = measure(store, args.runs, now)
            return {"seed_s": round(seeded, 1), "timings": result}
        finally:
            store.close()
            if schema is not None:
                _drop_schema(args.database_url, schema)


def report(result: dict[str, Any]) -> bool:
    ok = True
    print(f"reports benchmark: {result['cases']} cases, commit {result['commit']}")
    for backend, found in result["backends"].items():
        print(f"\n{backend} (seeded in {found['seed_s']} s)")
        print(f"  {'report':<42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'x count(*)':>11}")
        for name, figures in found["timings"].items():
            print(
                f"  {name:<42} {figures['p50_ms']:>8} {figures['p95_ms']:>8}"
                f" {figures['max_ms']:>8} {figures['x_baseline']:>11}"
            )
            goal = "Reports" in name or "scrutiny (published)" in name
            if goal and figures["p95_ms"] > GOAL_P95_MS:
                ok = False
    print(f"\ngoal: every report's p95 <= {GOAL_P95_MS:.0f} ms: {'met' if ok else 'NOT met'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--database-url", default=DEFAULT_PG)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON too.")
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {
        "commit": _commit(),
        "cases": args.cases,
        "today": council_day(now).isoformat(),
        "backends": {},
    }
    for backend in args.backends.split(","):
        result["backends"][backend] = run_backend(backend.strip(), args, now)
    ok = report(result)
    if args.json:
        print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
