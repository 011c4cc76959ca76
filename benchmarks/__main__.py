"""Run every benchmark, each in its own process so peak memory figures stay honest.

Usage: `python -m benchmarks` (all) or `python -m benchmarks NAME...` (e.g. `sandbox_seed`).
Each benchmark prints its figures and its same-run baseline; this runner prints a summary.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = (
    "sandbox_seed",
    "sandbox_serve",
    "mapping_throughput",
    "connector_bulk_read",
    "store_sync",
    "dataverse_sync",
    "portal_latency",
    "reports",
)


def main(argv: list[str]) -> int:
    chosen = argv or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    results: list[tuple[str, int, float]] = []
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{name}"])  # noqa: S603
        results.append((name, code, time.perf_counter() - started))
    print("\n=== summary ===")
    for name, code, seconds in results:
        print(f"{name:<22} {'ok' if code == 0 else f'FAILED ({code})':<12} {seconds:7.1f} s")
    return 0 if all(code == 0 for _, code, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
