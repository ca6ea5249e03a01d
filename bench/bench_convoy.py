"""Convoy bench: what a page run's many small statements wait for beside a busy Python thread.

    python -m bench.bench_convoy                  # 5 ms (Python's default), 1 ms and 0.5 ms
    python -m bench.bench_convoy --intervals 5 0.5 --runs 40

A page run hands the interpreter lock back at every DuckDB statement and takes it back after;
while another thread runs Python (the applier parsing webhooks, the committer, the dispatcher),
each take-back can wait a whole switch interval (``sys.setswitchinterval``). The bench times
``--statements`` primary-key reads on a small DuckDB file alone and beside one thread that only
runs Python, at each interval, the rows interleaved so that the machine's drift hits each alike.
Parley's server uses ``PARLEY_SWITCH_INTERVAL_MS`` (``core.runtime.use_switch_interval``).
The 1-minute load average is printed; quote figures from a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def page_like(cur: duckdb.DuckDBPyConnection, statements: int) -> float:
    started = time.perf_counter()
    for i in range(statements):
        cur.execute("SELECT name FROM people WHERE id = ?", [i]).fetchall()
    return (time.perf_counter() - started) * 1000


def busy_python(stop: threading.Event) -> None:
    total = 0
    while not stop.is_set():
        for i in range(1000):
            total += i * i


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--intervals", type=float, nargs="+", default=[5.0, 1.0, 0.5], help="switch intervals, ms")
    parser.add_argument("--runs", type=int, default=30, help="timed page-like runs per interval and case")
    parser.add_argument("--statements", type=int, default=40, help="statements in one page-like run")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"load average (1 min) at start: {load:.2f}" + ("  WARNING: machine busy" if load > 1 else ""))
    before = sys.getswitchinterval()
    with tempfile.TemporaryDirectory(prefix="parley-convoy-") as work:
        con = duckdb.connect(str(Path(work) / "convoy.duckdb"))
        con.execute("CREATE TABLE people AS SELECT i AS id, 'person ' || i AS name FROM range(100000) t(i)")
        con.execute("ALTER TABLE people ADD PRIMARY KEY (id)")
        cur = con.cursor()
        alone: dict[float, list[float]] = {ms: [] for ms in args.intervals}
        beside: dict[float, list[float]] = {ms: [] for ms in args.intervals}
        try:
            for _ in range(args.runs):
                for ms in args.intervals:
                    sys.setswitchinterval(ms / 1000)
                    alone[ms].append(page_like(cur, args.statements))
                    stop = threading.Event()
                    burner = threading.Thread(target=busy_python, args=(stop,))
                    burner.start()
                    time.sleep(0.01)  # the burner holds the lock when the run starts
                    beside[ms].append(page_like(cur, args.statements))
                    stop.set()
                    burner.join()
        finally:
            sys.setswitchinterval(before)
        con.close()
    for ms in args.intervals:
        print(
            f"switch interval {ms:4g} ms: {args.statements} statements alone p50 {statistics.median(alone[ms]):7.1f} ms"
            f"   beside busy Python p50 {statistics.median(beside[ms]):7.1f} ms  p95 {percentile(beside[ms], 95):7.1f} ms"
            f"   (n={args.runs})"
        )
    base = statistics.median(beside[args.intervals[0]])
    for ms in args.intervals[1:]:
        print(
            f"beside busy Python, {args.intervals[0]:g} ms ÷ {ms:g} ms (p50): {base / statistics.median(beside[ms]):.2f}"
        )
    load = os.getloadavg()[0]
    print(f"load average (1 min) at end: {load:.2f}" + ("  WARNING: machine busy" if load > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
