"""The server's own time for each page run, read from its log (``PARLEY_LOG_RUN_TIMES=1``).

A bench that times page runs from a client (``bench/bench_many_users.py``) sees the run plus the
way there and back: the websocket, the event loop that also serves the webhooks, the client's
own share of the machine. The server logs each run's own time (``pages/run_log.py``: ``run
<page> <ms> ms`` when ``ui.py`` finishes it), so printing both says whether a page got slower
under load because its run did, or because it waited around it.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

# As app.py's logging format writes it: "2026-12-08 02:59:13,071 parley.pages INFO run inbox 138.9 ms".
RUN_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) parley\.pages INFO run (\S+) (\d+(?:\.\d+)?) ms$")


def server_runs(log_path: Path, since: float, until: float) -> dict[str, list[float]]:
    """Each page's run times (ms) for the runs that ended between ``since`` and ``until``
    (``time.time()`` values; the log's times are the server's local time, as is ``time.mktime``)."""
    runs: dict[str, list[float]] = {}
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return runs
    for line in lines:
        match = RUN_LINE.match(line)
        if not match:
            continue
        stamp, millis, page, ms = match.groups()
        ended = time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
        if since <= ended <= until:
            runs.setdefault(page, []).append(float(ms))
    return runs
