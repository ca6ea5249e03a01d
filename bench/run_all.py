"""Every benchmark in bench/, then one table: figure, target (DESIGN.md's *Figures to reach*),
measured, pass/fail, and the 1-minute load average while it ran.

    python -m bench.run_all                         # the 100k workspace (generated if missing)
    python -m bench.run_all --conversations 100000 1000000
    python -m bench.run_all --quick                 # a 10k workspace, short runs: does everything work?
    python -m bench.run_all --only bench_inbox bench_pages --json results.json

Each bench runs in its own process, as a person would run it (``python -m bench.<name>``); its
whole output goes to ``<logs>/<name>[-<size>].log`` and the figures are read from the lines it
prints (``bench.targets.FIGURES`` says which line holds which figure). A bench that fails, or whose
line is missing, shows as such in the table and never stops the others. Benches in bench/ that
``BENCHES`` does not know are run too (with no arguments) and listed as having no figure.

A figure measured with the load average above 1 is not the product's: the table says so, and
the lead re-measures on a quiet machine. ``--quick`` figures (small workspace, few runs) only
show that each bench works; they are not compared with the targets' workspace size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import load_average
from bench.targets import BENCHES, FIGURES, Bench, Figure

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(os.environ.get("PARLEY_BENCH_DIR") or ROOT / "data" / "bench")


@dataclass
class Row:
    figure: str
    target: str
    measured: str
    verdict: str  # pass / FAIL / n/a / missing / bench failed
    load: float | None
    size: str = ""
    value: float | None = None


@dataclass
class Run:
    bench: str
    size: str
    exit_code: int | None
    seconds: float
    load: float
    log: Path
    output: str = field(repr=False, default="")


# ---- reading figures out of a bench's output ------------------------------------------------------


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def values(figure: Figure, output: str) -> list[float]:
    """Every value of ``figure`` printed in ``output`` (one per matching line)."""
    found = []
    for line in output.splitlines():
        match = re.search(figure.pattern, line.strip())
        if not match:
            continue
        groups = match.groupdict()
        if "most" in groups:  # a ratio of two printed numbers
            found.append(_number(groups["most"]) / _number(groups["limit"]))
        else:
            found.append(_number(groups["v"]))
    return found


def combine(figure: Figure, found: list[float]) -> float:
    if figure.pick == "sum":
        return sum(found)
    worst_is_high = figure.op == "<="
    return max(found) if worst_is_high else min(found)


def verdict(figure: Figure, value: float, size: int) -> str:
    target = figure.target(size)
    if target is None:
        return "n/a"
    ok = value <= target if figure.op == "<=" else value >= target
    return "pass" if ok else "FAIL"


def shown(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:,.1f} ms"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "/s":
        return f"{value:,.0f}/s"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:,.0f}"


def target_text(figure: Figure, size: int) -> str:
    target = figure.target(size)
    if target is None:
        return "(reported)"
    return f"{'≤' if figure.op == '<=' else '≥'} {shown(target, figure.unit)}"


def rows_for(run: Run, size: int, quick: bool) -> list[Row]:
    rows = []
    for figure in (f for f in FIGURES if f.bench == run.bench):
        found = values(figure, run.output)
        if not found:
            state = "bench failed" if run.exit_code else "missing"
            rows.append(Row(figure.figure, target_text(figure, size), "—", state, run.load, run.size))
            continue
        value = combine(figure, found)
        result = verdict(figure, value, size)
        if quick and result in ("pass", "FAIL"):
            result += " (quick)"
        rows.append(Row(figure.figure, target_text(figure, size), shown(value, figure.unit), result, run.load, run.size,
                        value))  # fmt: skip
    if not any(f.bench == run.bench for f in FIGURES):
        state = f"bench failed (exit {run.exit_code})" if run.exit_code else "ran (no figure in DESIGN.md)"
        rows.append(Row(f"{run.bench} (see its log)", "—", "—", state, run.load, run.size))
    return rows


# ---- running ------------------------------------------------------------------------------------------


def size_label(conversations: int) -> str:
    if conversations % 1_000_000 == 0:
        return f"{conversations // 1_000_000}m"
    if conversations % 1_000 == 0:
        return f"{conversations // 1_000}k"
    return str(conversations)


def workspace(conversations: int, quick: bool, folder: Path) -> Path:
    """The generated workspace of that size (made once if missing: minutes at 100k, an hour at 1M)."""
    path = (folder if quick else BENCH_DIR) / f"{size_label(conversations)}.duckdb"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.generate", "--db", str(path), "--conversations", str(conversations),
               "--messages", str(conversations * 10), "--contacts", str(conversations)]  # fmt: skip
    if quick:
        command += ["--big", "2000", "--agents", "5"]
    print(f"generating {path} ({conversations:,} conversations)…", flush=True)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not path.exists():
        raise SystemExit(f"could not generate {path}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return path


def known_benches() -> list[Bench]:
    """BENCHES that exist in bench/, then any other bench_*.py (run with no arguments)."""
    present = {p.stem for p in (ROOT / "bench").glob("bench_*.py")}
    listed = [b for b in BENCHES if b.name in present]
    extra = [Bench(name) for name in sorted(present - {b.name for b in BENCHES})]
    return listed + extra


def run_bench(bench: Bench, args: list[str], label: str, logs: Path, timeout: float) -> Run:
    log = logs / f"{bench.name}{'-' + label if label else ''}.log"
    loads = [load_average()]
    started = time.monotonic()
    print(f"running python -m bench.{bench.name} {' '.join(args)}", flush=True)
    try:
        done = subprocess.run(
            [sys.executable, "-m", f"bench.{bench.name}", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        output += f"\n(stopped after {timeout:.0f} s)"
        code = -1
    loads.append(load_average())
    log.write_text(output)
    return Run(bench.name, label, code, time.monotonic() - started, max(loads), log, output)


def table(rows: list[Row]) -> str:
    headers = ("figure", "size", "target", "measured", "pass/fail", "load")
    cells = [
        (r.figure, r.size, r.target, r.measured, r.verdict, "" if r.load is None else f"{r.load:.2f}") for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 10k workspace and short runs: a smoke run")
    parser.add_argument("--conversations", type=int, nargs="+", default=None,
                        help="workspace sizes (default 100000; --quick 10000)")  # fmt: skip
    parser.add_argument("--only", nargs="+", default=None, help="bench names to run (default: all)")
    parser.add_argument("--logs", default=None, help="folder for each bench's output (default: a temp folder)")
    parser.add_argument("--json", default=None, help="also write the table as JSON to this file")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per bench (default 3600; --quick 900)")
    args = parser.parse_args(argv)
    sizes = args.conversations or ([10_000] if args.quick else [100_000])
    timeout = args.timeout or (900 if args.quick else 3600)
    logs = Path(args.logs or tempfile.mkdtemp(prefix="parley-run-all-"))
    logs.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="parley-run-all-ws-"))
    benches = [b for b in known_benches() if args.only is None or b.name in args.only]
    start_load = load_average()
    print(f"load average (1 min) at start: {start_load:.2f}" + ("  WARNING: machine busy" if start_load > 1 else ""))
    rows: list[Row] = []
    for bench in benches:
        for n in sizes if bench.per_size else sizes[:1]:
            extra: list[str] = list(bench.quick if args.quick else bench.full)
            if bench.workspace:
                extra += [bench.workspace, str(workspace(n, args.quick, scratch))]
            run = run_bench(bench, extra, size_label(n) if bench.per_size or bench.workspace else "", logs, timeout)
            print(f"  {bench.name}: exit {run.exit_code} in {run.seconds:.0f} s, load ≤ {run.load:.2f}; log {run.log}")
            rows += rows_for(run, n, args.quick)
    print()
    print(table(rows))
    busy = [r for r in rows if r.load is not None and r.load > 1]
    if busy:
        print(f"\n{len(busy)} figure(s) measured with the load average above 1: re-measure them on a quiet machine.")
    print(f"logs: {logs}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=2, default=str))
    failed = [r for r in rows if r.verdict.startswith(("FAIL", "bench failed", "missing"))]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
