"""Seeding time of the sandbox CRM: 100k cases must take no more than 30 s.

Baseline measured in the same run: seeding the default 2,000 cases. The ratio of per-case cost
(100k vs 2k) shows whether seeding stays linear. Run: `python -m benchmarks.sandbox_seed`.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime

from connector.sandbox.seed import seed
from connector.sandbox.store import Store

BUDGET_SECONDS = 30.0
ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def timed_seed(cases: int) -> tuple[float, Store]:
    store = Store()
    started = time.perf_counter()
    seed(store, seed=1, cases=cases, anchor=ANCHOR)
    return time.perf_counter() - started, store


def main(cases: int = 100_000) -> int:
    base_time, _ = timed_seed(2000)
    big_time, store = timed_seed(cases)
    counts = store.counts()
    per_base = base_time / 2000 * 1e6
    per_big = big_time / cases * 1e6
    print(f"baseline: 2,000 cases in {base_time:.2f} s ({per_base:.1f} us/case)")
    print(
        f"seeded {counts['cases']:,} cases, {counts['notes']:,} notes, "
        f"{counts['parties']:,} parties in {big_time:.2f} s ({per_big:.1f} us/case)"
    )
    print(f"per-case cost ratio (big/baseline): {per_big / per_base:.2f}")
    ok = big_time <= BUDGET_SECONDS
    print(
        f"budget {BUDGET_SECONDS:.0f} s: {'PASS' if ok else 'FAIL'} "
        f"({big_time / BUDGET_SECONDS:.0%} of budget)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
