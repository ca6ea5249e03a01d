"""Every Stats query for a 90-day range: cold in a fresh process (≤ 2 s in all), warm per chart
(≤ 300 ms) and per page (≤ 1 s).

    python -m bench.bench_stats --db data/bench.duckdb            # a generated workspace (python -m bench.generate)
    python -m bench.bench_stats --db … --days 30 --runs 20

The range ends on the last day that has facts; the viewer is the supervisor
``sam`` in America/New_York. Cold: a new process opens the database and runs
each query once, as the first visit after a restart would. Warm: the same
process runs them again and again (DuckDB's buffers warm, no result cached).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import ROOT, load_average, percentile
from core import reporting, stats, stats_filter
from core.auth import get_user
from core.db import Database

PAGES = {
    "Volume": ["volume", "heatmap"],
    "Responsiveness": ["first_response", "reply", "time_to_close", "unanswered"],
    "Delivery": ["funnel", "failures", "optouts"],
    "Campaign results": ["campaigns"],
    "Workload now": ["workload", "oldest_waiting"],
}


def queries(db: Database, viewer, f: stats_filter.StatsFilter) -> dict:
    return {
        "volume": lambda: stats.volume_daily(db, viewer, f),
        "heatmap": lambda: stats.incoming_heatmap(db, viewer, f),
        "first_response": lambda: stats.durations(db, viewer, f, reporting.FIRST_RESPONSE),
        "reply": lambda: stats.durations(db, viewer, f, reporting.REPLY),
        "time_to_close": lambda: stats.durations(db, viewer, f, reporting.CONVERSATION_CLOSED),
        "unanswered": lambda: stats.unanswered(db, viewer, f),
        "funnel": lambda: stats.delivery_funnel(db, viewer, f),
        "failures": lambda: stats.failures(db, viewer, f),
        "optouts": lambda: stats.optouts_daily(db, viewer, f),
        "campaigns": lambda: stats.campaigns(db, viewer, f),
        "workload": lambda: stats.workload(db, viewer, f),
        "oldest_waiting": lambda: stats.oldest_waiting(db, viewer, f),
    }


def open_workspace(path: str, days: int):
    db = Database(path, read_only=True)
    if not db.scalar("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'report_facts'"):
        db.close()
        raise SystemExit(f"{path} has no reporting facts: start Parley on it once (migration 8) or regenerate it.")
    viewer = get_user(db, db.scalar("SELECT id FROM users WHERE role = 'supervisor' ORDER BY id LIMIT 1"))
    last = db.scalar("SELECT max(occurred_at) FROM report_facts").date()
    f = stats_filter.StatsFilter(start=last - dt.timedelta(days=days - 1), end=last, timezone="America/New_York")
    return db, viewer, f


def once(path: str, days: int) -> None:
    """The cold run, in its own process: open, then each query once; prints JSON timings."""
    started = time.perf_counter()
    db, viewer, f = open_workspace(path, days)
    opened = time.perf_counter() - started
    timings = {}
    for name, run in queries(db, viewer, f).items():
        start = time.perf_counter()
        run()
        timings[name] = (time.perf_counter() - start) * 1000
    db.close()
    print(json.dumps({"open_ms": opened * 1000, "queries_ms": timings}))


def render_pages(path: str, f: stats_filter.StatsFilter, runs: int) -> None:
    """Each Stats page as the server runs it (ui.py, frame, page) for the supervisor, warm reruns."""
    import shutil
    import tempfile

    from bench.bench_pages import _navigation_only
    from bench.common import measure
    from core import runtime

    work = Path(tempfile.mkdtemp(prefix="parley-stats-"))
    try:
        shutil.copy(path, work / "parley.duckdb")
        rt = runtime.start(
            runtime.Config(
                db_path=work / "parley.duckdb",
                media_dir=work / "media",
                demo=False,
                secret_key=b"bench",
                public_url=None,
                port=0,
            )
        )
        from streamlit.runtime.pages_manager import PagesManager
        from streamlit.testing.v1 import AppTest

        PagesManager.__init__ = _navigation_only(PagesManager.__init__)
        supervisor = rt.db.scalar("SELECT id FROM users WHERE role = 'supervisor' ORDER BY id LIMIT 1")
        for script in ("volume", "responsiveness", "delivery", "campaigns", "workload"):
            at = AppTest.from_file(str(ROOT / "ui.py"), default_timeout=120)
            at.session_state["user_id"] = supervisor
            at.session_state["stats.filter"] = f
            at.run()
            at.switch_page(f"pages/stats_{script}.py")
            at.run()
            if at.exception:
                raise SystemExit(f"stats_{script} failed: {at.exception[0].value}")
            measure(f"Stats page {script} (warm rerun, whole script)", at.run, runs=runs, warmup=1, target_ms=1000)
        runtime.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="data/bench.duckdb")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pages", action="store_true", help="also render each Stats page (AppTest, on a copy)")
    parser.add_argument("--once", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.once:
        once(args.db, args.days)
        return 0
    db, viewer, f = open_workspace(args.db, args.days)
    facts = db.scalar("SELECT count(*) FROM report_facts")
    messages = db.scalar("SELECT count(*) FROM messages")
    db.close()
    print(f"{args.db}: {messages:,} messages, {facts:,} facts; range {f.start} – {f.end} ({args.days} days)")

    cold = subprocess.run(
        [sys.executable, "-m", "bench.bench_stats", "--db", args.db, "--days", str(args.days), "--once"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(cold.stdout.strip().splitlines()[-1])
    total = sum(result["queries_ms"].values())
    print(
        f"cold (fresh process): open {result['open_ms']:.0f} ms, every query once {total:.0f} ms"
        f"{'  OK' if total <= 2000 else '  OVER TARGET (2 s)'}"
    )
    for name, ms in result["queries_ms"].items():
        print(f"  {name:<16} {ms:7.1f} ms")

    db, viewer, f = open_workspace(args.db, args.days)
    runs = queries(db, viewer, f)
    warm: dict[str, list[float]] = {}
    for name, run in runs.items():
        run()  # warm-up
        samples = []
        for _ in range(args.runs):
            start = time.perf_counter()
            run()
            samples.append((time.perf_counter() - start) * 1000)
        warm[name] = samples
        p95 = percentile(samples, 95)
        print(
            f"warm {name:<16} p50 {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms"
            f"{'  OK' if p95 <= 300 else '  OVER TARGET (300 ms)'}"
        )
    for page, names in PAGES.items():
        p50 = sum(statistics.median(warm[n]) for n in names)
        print(f"page {page:<16} p50 {p50:7.1f} ms (its queries){'  OK' if p50 <= 1000 else '  OVER TARGET (1 s)'}")
    db.close()
    if args.pages:
        render_pages(args.db, f, args.runs)
    load = load_average()
    print(f"load average {load:.2f}" + ("  WARNING: machine busy, re-measure on a quiet one" if load > 1 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
