"""What ``bench.run_all`` measures against: each bench and how it is run (``BENCHES``), and each
figure (``FIGURES``): the bench that prints it, the line it is read from, and its target from
DESIGN.md's *Figures to reach*, at 100k and at 1M conversations.

Apart from ``bench.run_all`` (which runs the benches and reads their output) because this is the
list that changes when a bench or a target does.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bench:
    name: str  # module in bench/
    full: tuple[str, ...] = ()  # arguments for a measuring run
    quick: tuple[str, ...] = ()  # arguments for --quick
    workspace: str | None = None  # how it takes a generated workspace: "--db", "--workspace", or None
    per_size: bool = False  # run once per workspace size (its figures depend on the size)


BENCHES: list[Bench] = [
    Bench("bench_inbox", quick=("--runs", "10"), workspace="--db", per_size=True),
    Bench(
        "bench_contacts",
        quick=("--runs", "10", "--rows", "5000", "--import-runs", "1"),
        workspace="--db",
        per_size=True,
    ),
    Bench("bench_pages", quick=("--runs", "3"), workspace="--db", per_size=True),
    Bench("bench_stats", quick=("--runs", "3"), workspace="--db", per_size=True),
    Bench("bench_webhooks", full=("--live-pages", "10"), quick=("--seconds", "3")),
    Bench("bench_apply", quick=("--statuses", "500", "--replies", "300", "--new", "300")),
    Bench("bench_dispatch", quick=("--messages", "1000", "--limited-seconds", "3")),
    Bench("bench_campaign", quick=("--recipients", "5000", "--runs", "1", "--limited", "200"), workspace="--workspace"),
    Bench("bench_transcript", quick=("--messages", "1000", "--runs", "1")),
    Bench("bench_sessions", quick=("--runs", "20", "--sessions", "2000")),
    Bench(
        "bench_faults",
        quick=(
            "--messages",
            "30",
            "--fault-seconds",
            "5",
            "--read-timeout",
            "2",
            "--answer-delay",
            "3",
            "--max-wait",
            "180",
        ),
    ),  # fmt: skip
    Bench("bench_many_users", full=("--conversations", "100000"), quick=("--quick",), workspace="--db"),
    Bench("bench_desk", quick=("--opens", "5", "--bulk", "3"), workspace="--db"),
]


@dataclass(frozen=True)
class Figure:
    figure: str
    bench: str
    pattern: str  # a regular expression over one printed line; group "v" is the value
    op: str  # "<=" or ">="
    targets: tuple[float, float | None]  # (100k conversations, 1M conversations)
    unit: str
    pick: str = "max"  # several matching lines (e.g. two searches): the worst ("max" for <=, "min" for >=)

    def target(self, size: int) -> float | None:
        return self.targets[1] if size >= 1_000_000 else self.targets[0]


P95 = r".*?\bp95\s+(?P<v>[\d.,]+)\s*ms"  # bench.common.measure's line
FIGURES: list[Figure] = [
    Figure("My Inbox first page with counts (core)", "bench_inbox", r"^My Inbox \(" + P95, "<=", (25, 40), "ms"),
    Figure("Open a conversation, typical (core)", "bench_inbox", r"^Conversation, typical" + P95, "<=", (5, 8), "ms"),
    Figure(
        "Open a 10k-message conversation, latest 200 (core)",
        "bench_inbox",
        r"^Conversation, 10k messages, latest 200" + P95,
        "<=",
        (15, 15),
        "ms",
    ),  # fmt: skip
    Figure("Search conversations", "bench_inbox", r"^Conversation search" + P95, "<=", (25, 40), "ms"),
    Figure(
        "Search contacts by name or number fragment",
        "bench_contacts",
        r"^Contacts search by" + P95,
        "<=",
        (5, 15),
        "ms",
    ),  # fmt: skip
    Figure(
        "Page first render: My Inbox",
        "bench_pages",
        r"^My Inbox(?::| page| \(agent\):).*?first visit" + P95,
        "<=",
        (120, 150),
        "ms",
    ),  # fmt: skip
    Figure(
        "Page first render: Conversation",
        "bench_pages",
        r"^Conversation(?::| \(typical)[^\n]*?first visit" + P95,
        "<=",
        (150, 200),
        "ms",
    ),  # fmt: skip
    Figure(
        "Signed inbound webhooks, 16 clients",
        "bench_webhooks",
        r"^signed webhooks\s.*?(?P<v>[\d.,]+) req/s",
        ">=",
        (1000, None),
        "/s",
    ),  # fmt: skip
    Figure(
        "Signed webhooks ÷ the no-op route",
        "bench_webhooks",
        r"webhook/no-op ratio (?P<v>[\d.]+)",
        ">=",
        (0.5, None),
        "×",
    ),  # fmt: skip
    Figure(
        "Signed webhooks, p99 of the answer",
        "bench_webhooks",
        r"^signed webhooks\s.*?p99\s+(?P<v>[\d.,]+) ms",
        "<=",
        (100, None),
        "ms",
    ),  # fmt: skip
    Figure(
        "Signed webhooks with 10 live agent pages",
        "bench_webhooks",
        r"^signed webhooks, \d+ live pages\s.*?(?P<v>[\d.,]+) req/s",
        ">=",
        (500, None),
        "/s",
    ),  # fmt: skip
    Figure(
        "Signed webhooks with 10 live agent pages, p99",
        "bench_webhooks",
        r"^signed webhooks, \d+ live pages\s.*?p99\s+(?P<v>[\d.,]+) ms",
        "<=",
        (200, None),
        "ms",
    ),  # fmt: skip
    Figure("Acknowledged webhooks lost", "bench_webhooks", r"\blost (?P<v>\d+)", "<=", (0, None), ""),
    Figure(
        # Issue 18: a burst at the acknowledgement rate builds no backlog older than a few seconds.
        "Oldest webhook not yet applied at a burst's end",
        "bench_webhooks",
        r"^webhook/no-op ratio.*backlog at the burst's end .*'oldest_age_seconds': (?P<v>[\d.]+)",
        "<=",
        (5, None),
        "s",
    ),  # fmt: skip
    Figure(
        "Inbound replies applied",
        "bench_apply",
        r"^replies in conversations.*?(?P<v>[\d,]+)/s",
        ">=",
        (2000, None),
        "/s",
    ),  # fmt: skip
    Figure(
        "Inbound first messages from new numbers applied",
        "bench_apply",
        r"^first messages from new numbers.*?(?P<v>[\d,]+)/s",
        ">=",
        (1000, None),
        "/s",
    ),  # fmt: skip
    Figure(
        "Dispatch to a loopback provider",
        "bench_dispatch",
        r"^dispatch [\d,]+ to loopback Twilio.*?(?P<v>[\d.,]+) sends/s",
        ">=",
        (500, None),
        "/s",
    ),  # fmt: skip
    Figure(
        "Per-sender limit: most sends started in any 1 s ÷ the limit",
        "bench_dispatch",
        r"^sender limited to (?P<limit>[\d.]+)/s.*?most started in any 1 s window (?P<most>\d+)",
        "<=",
        (1, None),
        "×",
    ),  # fmt: skip
    Figure(
        "Campaign of 100k recipients queued",
        "bench_campaign",
        r"build \+ queue p50 (?P<v>[\d.]+) s",
        "<=",
        (3, None),
        "s",
    ),  # fmt: skip
    Figure(
        "Supervisor stats, 90 days, cold",
        "bench_stats",
        r"every query once (?P<v>[\d.,]+) ms",
        "<=",
        (2000, 2000),
        "ms",
    ),  # fmt: skip
    Figure("Supervisor stats, a chart warm", "bench_stats", r"^warm " + P95, "<=", (300, 300), "ms"),
    Figure(
        "Transcript of 10k messages: PDF",
        "bench_transcript",
        r"^PDF \(whole export\)\s+p50\s+(?P<v>[\d.]+) s",
        "<=",
        (5, None),
        "s",
    ),  # fmt: skip
    Figure(
        "Transcript of 10k messages: TXT",
        "bench_transcript",
        r"^TXT \(load \+ text\)\s+p50\s+(?P<v>[\d.]+) s",
        "<=",
        (0.5, None),
        "s",
    ),  # fmt: skip
    Figure(
        "Many users: My Inbox p95 loaded ÷ idle",
        "bench_many_users",
        r"^My Inbox p95 loaded ÷ idle\s+(?P<v>[\d.]+)",
        "<=",
        (2, 2),
        "×",
    ),  # fmt: skip
    Figure(
        "Many users: Conversation p95 loaded ÷ idle",
        "bench_many_users",
        r"^Conversation p95 loaded ÷ idle\s+(?P<v>[\d.]+)",
        "<=",
        (2, 2),
        "×",
    ),  # fmt: skip
    Figure(
        "Many users: first visit, My Inbox p95 loaded ÷ idle",
        "bench_many_users",
        r"^first visit, My Inbox p95 loaded ÷ idle\s+(?P<v>[\d.]+)",
        "<=",
        (2, 2),
        "×",
    ),  # fmt: skip
    Figure(
        "Many users: first visit, Conversation p95 loaded ÷ idle",
        "bench_many_users",
        r"^first visit, Conversation p95 loaded ÷ idle\s+(?P<v>[\d.]+)",
        "<=",
        (2, 2),
        "×",
    ),  # fmt: skip
    Figure("Many users: errors and lost webhooks", "bench_many_users", r"^errors (?P<v>\d+)", "<=", (0, 0), ""),
    Figure(
        "Many users: sessions before p95 doubles",
        "bench_many_users",
        r"^sessions before p95 doubles:? (?:more than )?(?P<v>\d+)",
        ">=",
        (None, None),
        "",
    ),  # fmt: skip
    Figure(
        "Desk: click a row to its newest message",
        "bench_desk",
        r"^click a row → newest message visible" + P95,
        "<=",
        (400, 400),
        "ms",
    ),  # fmt: skip
    Figure(
        "Desk: bulk Mark read on 2 rows to the list updated",
        "bench_desk",
        r"^Mark read/unread on 2 ticked" + P95,
        "<=",
        (300, 300),
        "ms",
    ),  # fmt: skip
    Figure(
        "Provider faults: messages sent twice",
        "bench_faults",
        r"\bsent twice (?P<v>\d+)",
        "<=",
        (0, None),
        "",
        pick="sum",
    ),  # fmt: skip
]
