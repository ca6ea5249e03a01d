"""One line in the server's log per script run, when ``PARLEY_LOG_RUN_TIMES=1`` (the browser suite, bench_desk).

bench_desk splits what a click costs into the server's script run and the rest (network, drawing);
a live update that came late shows whether its fragment ran late or ran and found nothing new.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator

log = logging.getLogger("parley.pages")


@contextlib.contextmanager
def logged_run(what: str, started: float | None = None) -> Iterator[None]:
    """Log ``<what> <ms> ms`` when the block ends, timed from ``started`` (a ``perf_counter``), else from entry.

    It logs when the block leaves by an exception too: st.stop and st.rerun leave that way, and
    their runs count.
    """
    if os.environ.get("PARLEY_LOG_RUN_TIMES") != "1":
        yield
        return
    started = time.perf_counter() if started is None else started
    try:
        yield
    finally:
        log.info("%s %.1f ms", what, (time.perf_counter() - started) * 1000)
