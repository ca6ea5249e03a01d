"""Timing helpers shared by the bench scripts: run, then print p50/p95/p99."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(
    label: str, fn: Callable[[], object], *, runs: int = 50, warmup: int = 3, target_ms: float | None = None
) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    result = {
        "p50": statistics.median(samples),
        "p95": percentile(samples, 95),
        "p99": percentile(samples, 99),
        "runs": runs,
    }
    verdict = ""
    if target_ms is not None:
        verdict = "  OK" if result["p95"] <= target_ms else f"  OVER TARGET ({target_ms:g} ms)"
    print(
        f"{label:<48} p50 {result['p50']:7.2f} ms   p95 {result['p95']:7.2f} ms   "
        f"p99 {result['p99']:7.2f} ms   (n={runs}){verdict}",
        flush=True,
    )
    return result
