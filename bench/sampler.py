"""A CPU profile of a running Parley server, without py-spy: run the server under this module.

    python -m bench.sampler OUT.txt -- run app.py --server.port 8501 ...

starts a thread that, every ``INTERVAL`` seconds, reads every thread's stack
(``sys._current_frames``) and the CPU time that thread used since the last look
(``time.pthread_getcpuclockid``), and charges that CPU time to the stack it found:
a thread waiting on a lock or a socket costs nothing, whatever its stack. Then it
runs ``streamlit`` with the arguments after ``--``.

Control by files beside OUT (so a bench can mark its windows): ``OUT.reset`` appearing
clears the counts (and is removed); ``OUT.dump`` appearing writes the report to OUT
(and is removed). The report is also written at exit. It lists CPU seconds per thread
group (thread names without their numbers), the functions where the CPU was spent
(self) and the functions under which it was spent (inclusive), top 40 each.

Work inside C (DuckDB, hashing) is charged to the Python line that called it; DuckDB's
own worker threads are not Python threads: their share is the process total (from
/proc/self/stat) minus what the report lists.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path

INTERVAL = 0.002
TOP = 40


class Sampler:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.lock = threading.Lock()
        self._reset()
        self.clocks: dict[int, float] = {}
        self.thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def _reset(self) -> None:
        self.by_group: Counter = Counter()
        self.self_cost: Counter = Counter()
        self.inclusive: Counter = Counter()
        self.stacks: Counter = Counter()
        self.started = time.time()
        self.process_cpu_at_start = _process_cpu()

    def _run(self) -> None:
        me = threading.get_ident()
        while True:
            time.sleep(INTERVAL)
            names = {t.ident: t.name for t in threading.enumerate()}
            frames = sys._current_frames()
            with self.lock:
                for ident, frame in frames.items():
                    if ident == me:
                        continue
                    try:
                        now = time.clock_gettime(time.pthread_getcpuclockid(ident))
                    except (OSError, ProcessLookupError):
                        continue
                    spent = now - self.clocks.get(ident, now)
                    self.clocks[ident] = now
                    if spent <= 0:
                        continue
                    group = re.sub(r"[-_ ]?\d+$", "", re.sub(r"\(.*\)", "", names.get(ident, "?"))).strip()
                    self.by_group[group] += spent
                    seen = set()
                    stack = []
                    leaf = True
                    while frame is not None:
                        code = frame.f_code
                        where = f"{_short(code.co_filename)}:{code.co_name}"
                        if leaf:
                            self.self_cost[f"{where}:{frame.f_lineno}"] += spent
                            leaf = False
                        if where not in seen:
                            self.inclusive[where] += spent
                            seen.add(where)
                        stack.append(where)
                        frame = frame.f_back
                    self.stacks[(group, tuple(reversed(stack[:12])))] += spent
            self._control()

    def _control(self) -> None:
        reset, dump = self.out.with_suffix(".reset"), self.out.with_suffix(".dump")
        if reset.exists():
            reset.unlink(missing_ok=True)
            with self.lock:
                self._reset()
        if dump.exists():
            dump.unlink(missing_ok=True)
            self.write()

    def write(self) -> None:
        with self.lock:
            wall = time.time() - self.started
            process = _process_cpu() - self.process_cpu_at_start
            listed = sum(self.by_group.values())
            lines = [
                f"window {wall:.1f} s; process CPU {process:.2f} s ({process / wall:.2f} cores); "
                f"Python threads {listed:.2f} s; other (DuckDB's own threads) {process - listed:.2f} s",
                "",
                "CPU seconds by thread group:",
            ]
            lines += [f"  {s:8.3f}  {g}" for g, s in self.by_group.most_common()]
            lines += ["", f"self (top {TOP}):"]
            lines += [f"  {s:8.3f}  {w}" for w, s in self.self_cost.most_common(TOP)]
            lines += ["", f"inclusive (top {TOP * 2}):"]
            lines += [f"  {s:8.3f}  {w}" for w, s in self.inclusive.most_common(TOP * 2)]
            lines += ["", "stacks (top 30, outermost first, at most the 12 innermost frames):"]
            for (group, stack), s in self.stacks.most_common(30):
                lines.append(f"  {s:8.3f}  [{group}]")
                lines += [f"              {w}" for w in stack]
        self.out.write_text("\n".join(lines) + "\n")


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/lib/python3", "/s4-live/", "/wt/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def _process_cpu() -> float:
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    if len(sys.argv) < 3 or "--" not in sys.argv:
        raise SystemExit(__doc__)
    split = sys.argv.index("--")
    out = Path(sys.argv[1])
    sampler = Sampler(out)
    sampler.thread.start()
    atexit.register(sampler.write)
    sys.argv = ["streamlit", *sys.argv[split + 1 :]]
    from streamlit.web.cli import main as streamlit_main

    streamlit_main()


if __name__ == "__main__":
    main()
