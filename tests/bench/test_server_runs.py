import time

from bench.server_runs import server_runs


def _stamp(when: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when)) + f",{int(when % 1 * 1000):03d}"


def test_the_runs_that_ended_in_the_window_by_page(tmp_path):
    start = time.mktime(time.strptime("2026-12-08 02:59:10", "%Y-%m-%d %H:%M:%S"))
    log = tmp_path / "server.log"
    log.write_text(
        "\n".join(
            [
                f"{_stamp(start + 0.5)} parley.pages INFO run inbox 12.5 ms",  # before the window
                f"{_stamp(start + 2.0)} parley.pages INFO run inbox 138.9 ms",
                f"{_stamp(start + 2.1)} parley.pages INFO fragment thread 6790 9.2 ms",  # a fragment, not a run
                f"{_stamp(start + 2.2)} parley.pages INFO run conversation 94.2 ms",
                f"{_stamp(start + 2.3)} parley.ingest WARNING run inbox 1.0 ms",  # another logger
                "Traceback (most recent call last):",
                f"{_stamp(start + 3.0)} parley.pages INFO run inbox 18.3 ms",
                f"{_stamp(start + 9.0)} parley.pages INFO run conversation 30.0 ms",  # after it
            ]
        )
        + "\n"
    )
    assert server_runs(log, start + 1, start + 5) == {"inbox": [138.9, 18.3], "conversation": [94.2]}


def test_no_log_is_no_runs(tmp_path):
    assert server_runs(tmp_path / "missing.log", 0, time.time()) == {}
