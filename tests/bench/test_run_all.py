"""bench.run_all reads each figure from the line its bench prints, and judges it against DESIGN.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import run_all
from bench.run_all import Run, rows_for
from bench.targets import BENCHES, FIGURES

# Lines as the benches print them (copied from their output).
SAMPLE = {
    "bench_inbox": """
My Inbox (inbox_view, agent)                         p50   13.73 ms   p95   19.13 ms   p99   21.01 ms   cpu p50   13.67 ms   (n=60)  OK
Conversation, typical (conversation_view)            p50    9.25 ms   p95   29.52 ms   p99   30.84 ms   cpu p50    9.13 ms   (n=60)  OVER TARGET (5 ms)
Conversation, 10k messages, latest 200               p50   18.09 ms   p95   27.51 ms   p99   30.52 ms   cpu p50   17.18 ms   (n=60)  OVER TARGET (15 ms)
Conversation, 10k messages, scroll back 200          p50   13.34 ms   p95   44.12 ms   p99   91.40 ms   cpu p50   10.26 ms   (n=60)  OVER TARGET (15 ms)
Conversation search, name fragment                   p50   32.70 ms   p95   62.38 ms   p99   78.34 ms   cpu p50   25.37 ms   (n=60)  OVER TARGET (25 ms)
Conversation search, 7 digits                        p50   13.09 ms   p95   36.73 ms   p99   44.97 ms   cpu p50   12.42 ms   (n=60)  OVER TARGET (25 ms)
""",
    "bench_webhooks": """
no-op route                            4100 req/s   p50    3.1 ms   p99   12.0 ms   (41,000 sent, errors none)
signed webhooks                        2,150 req/s   p50    6.2 ms   p99   48.5 ms   (21,500 sent, errors none)
signed webhooks, 10 live pages          480 req/s   p50   20.1 ms   p99  180.3 ms   (4,800 sent, errors none)
webhook/no-op ratio 0.52; group commits: 900 storing 23.9 webhooks each in 4.1 ms; backlog at the burst's end {'pending': 9434, 'oldest_age_seconds': 9.5, 'kept_for_review': 0, 'items_rejected': 0}
  backlog drained 12.0 s after the burst (786 webhooks/s applied)
acknowledged 21,500; stored 21,500; lost 0; applied as messages 21,500
""",
    "bench_dispatch": """
dispatch 10,000 to loopback Twilio                   8.10 s       1235 sends/s   OK
sender limited to 50/s, 500 queued             10.20 s       49.0 sends/s (2.0% under the limit); most started in any 1 s window 51   NOT HELD
""",
    "bench_faults": """
timeout   300 queued; provider created 300: sent once 300, sent twice 0, failed 0, interrupted 0, still queued 0; drained 3.1 s after recovery (60 s fault, 12 lookups)
outage    300 queued; provider created 301: sent once 299, sent twice 1, failed 0, interrupted 0, still queued 0; drained 2.0 s after recovery (60 s fault, 0 lookups)
""",
}


def run(bench: str, output: str, code: int = 0) -> Run:
    return Run(bench, "100k", code, 1.0, 0.4, Path("/dev/null"), output)


def by_figure(rows):
    return {r.figure: (r.measured, r.verdict) for r in rows}


def test_inbox_figures_take_the_worst_matching_line():
    rows = by_figure(rows_for(run("bench_inbox", SAMPLE["bench_inbox"]), 100_000, quick=False))
    assert rows == {
        "My Inbox first page with counts (core)": ("19.1 ms", "pass"),
        "Open a conversation, typical (core)": ("29.5 ms", "FAIL"),
        "Open a 10k-message conversation, latest 200 (core)": ("27.5 ms", "FAIL"),
        "Search conversations": ("62.4 ms", "FAIL"),  # the worse of the two searches
    }


def test_the_1m_column_has_its_own_targets():
    rows = rows_for(run("bench_inbox", SAMPLE["bench_inbox"]), 1_000_000, quick=False)
    assert [(r.figure, r.target, r.verdict) for r in rows][0] == (
        "My Inbox first page with counts (core)",
        "≤ 40.0 ms",
        "pass",
    )


def test_webhook_figures():
    rows = by_figure(rows_for(run("bench_webhooks", SAMPLE["bench_webhooks"]), 100_000, quick=False))
    assert rows == {
        "Signed inbound webhooks, 16 clients": ("2,150/s", "pass"),
        "Signed webhooks ÷ the no-op route": ("0.52×", "pass"),
        "Signed webhooks, p99 of the answer": ("48.5 ms", "pass"),
        "Signed webhooks with 10 live agent pages": ("480/s", "FAIL"),
        "Signed webhooks with 10 live agent pages, p99": ("180.3 ms", "pass"),
        "Acknowledged webhooks lost": ("0", "pass"),
        "Oldest webhook not yet applied at a burst's end": ("9.50 s", "FAIL"),
    }


def test_dispatch_rate_and_the_limit_held_as_a_ratio():
    rows = by_figure(rows_for(run("bench_dispatch", SAMPLE["bench_dispatch"]), 100_000, quick=False))
    assert rows == {
        "Dispatch to a loopback provider": ("1,235/s", "pass"),
        "Per-sender limit: most sends started in any 1 s ÷ the limit": ("1.02×", "FAIL"),
    }


def test_sent_twice_is_summed_over_the_scenarios():
    rows = by_figure(rows_for(run("bench_faults", SAMPLE["bench_faults"]), 100_000, quick=True))
    assert rows == {"Provider faults: messages sent twice": ("1", "FAIL (quick)")}


def test_a_missing_line_and_a_failed_bench_are_said_so():
    assert by_figure(rows_for(run("bench_transcript", "Traceback ...", code=1), 100_000, quick=False)) == {
        "Transcript of 10k messages: PDF": ("—", "bench failed"),
        "Transcript of 10k messages: TXT": ("—", "bench failed"),
    }
    assert by_figure(rows_for(run("bench_transcript", "nothing printed"), 100_000, quick=False))[
        "Transcript of 10k messages: PDF"
    ] == ("—", "missing")


def test_a_bench_without_a_figure_is_listed():
    rows = rows_for(run("bench_sessions", "p50 1 ms"), 100_000, quick=False)
    assert [(r.figure, r.verdict) for r in rows] == [("bench_sessions (see its log)", "ran (no figure in DESIGN.md)")]


def test_the_table_lines_up():
    rows = rows_for(run("bench_webhooks", SAMPLE["bench_webhooks"]), 100_000, quick=False)
    lines = run_all.table(rows).splitlines()
    assert lines[0].split() == ["figure", "size", "target", "measured", "pass/fail", "load"]
    assert len(lines) == 2 + 7 and all("0.40" in line for line in lines[2:])


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f.figure)
def test_every_figure_names_a_known_bench(figure):
    assert figure.bench in {b.name for b in BENCHES}
