"""Many users on one Parley: what an agent waits for while 25 others work, webhooks pour in and
the dispatcher sends. Target (issue 17): inbox and conversation p95 within 2× of their idle
figures, no errors, nothing lost; and how many sessions one process holds before p95 doubles.

    python -m bench.bench_many_users                     # 25 sessions, 200 webhooks/s, 60 s
    python -m bench.bench_many_users --sessions 25 --seconds 120 --ramp 1 5 10 25 50
    python -m bench.bench_many_users --quick             # a smoke run (5 sessions, 10 s)
    python -m bench.bench_many_users --seconds 20 --ramp # 25 sessions, 20 s phases, no ramp
    python -m bench.bench_many_users --profile /tmp/p.txt # and where the server's CPU went: /tmp/p-loaded.txt

One ``streamlit run app.py`` on a generated workspace in a temp folder (``--conversations``
conversations of the benchmark generator, 25 agents or more), the Twilio provider
pointed at a loopback fake. Each session is an agent's tab driven over Streamlit's websocket
protocol (``bench/many_users.py``): My Inbox, then a conversation, replying every third time,
each a whole page run timed until ``script_finished``. Idle: one session alone (clicking
every ``IDLE_THINK`` s on average, so that its p95 rests on enough samples). Loaded:
``--sessions`` sessions plus ``--webhooks`` signed Twilio webhooks a second. Ramp: each level
of sessions (with the webhooks) until the inbox p95 passes twice the idle one.

Page runs are timed from the request to the run's end, which is what a person waits for
after a click (the browser's drawing is not included). Beside them, "the server's run" is each
run's own time as the server logged it (``PARLEY_LOG_RUN_TIMES``, ``bench/server_runs.py``): the
difference is the wait around the run (the request and the page's messages queued behind the
event loop and the interpreter, which serve the webhooks and the other sessions too). A tab's first run of each page (a fresh
session) is timed apart from its later runs, idle (``IDLE_FIRST_VISITS`` new tabs one after
another) and loaded (each session's first round): the loaded phase opens 25 tabs and the idle
one a single tab, so together they compared first visits with later runs. The ramp compares
later runs. The 1-minute load average is printed;
quote it, and re-measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from bench import many_users as mu
from bench.bench_webhooks import Profile
from bench.common import load_average
from bench.many_users_webhooks import resend_failed
from bench.many_users_workspace import generate
from bench.server_runs import server_runs

IDLE_THINK = 0.3  # seconds between an idle session's clicks (see the idle phase)
IDLE_FIRST_VISITS = 20  # new tabs opened one after another, for the idle first-visit figure


def line(label: str, samples: list[float]) -> str:
    return (
        f"{label:<40} p50 {mu.percentile(samples, 50):8.1f} ms   p95 {mu.percentile(samples, 95):8.1f} ms   "
        f"(n={len(samples)})"
    )


def phase(server, ws, twilio, sessions: int, seconds: float, webhooks: float, think: float = 0.0):
    results = mu.Results()
    started = time.time()
    hooks = mu.run_sessions(server.base, ws, sessions, seconds, results, reply_every=3,
                            twilio_token=twilio.auth_token, webhook_rate=webhooks, think=think)  # fmt: skip
    results.server_runs = server_runs(server.log_path, started, time.time())
    return results, hooks


def server_lines(when: str, results) -> None:
    """The server's own run time for the phase's page runs (first visits and replies among them):
    against the client's figures, how much of the wait was the run itself."""
    for page, label in (("inbox", "My Inbox"), ("conversation", "Conversation")):
        print(line(f"{when}: the server's run, {label}", results.server_runs.get(page, [])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=25)
    parser.add_argument("--seconds", type=float, default=60, help="length of each phase")
    parser.add_argument("--webhooks", type=float, default=200, help="signed webhooks a second while loaded")
    parser.add_argument("--ramp", type=int, nargs="*", default=[5, 10, 25, 50], help="session levels to try")
    parser.add_argument("--conversations", type=int, default=10_000, help="conversations in the generated workspace")
    parser.add_argument("--db", default=None, help="ignored (the bench builds its own workspace); for run_all")
    parser.add_argument("--quick", action="store_true", help="5 sessions, 10 s phases, 50 webhooks/s, no ramp")
    parser.add_argument(
        "--think",
        type=float,
        default=3.0,
        help="seconds an agent reads or types between clicks, on average (0: click again at once, a stress test)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the server under bench.sampler: where its CPU went in the loaded phase, FILE-loaded.txt",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sessions, args.seconds, args.webhooks, args.ramp, args.conversations = 5, 10, 50, [], 2_000
    from tests.fakes.twilio_server import FakeTwilio

    start_load = load_average()
    print(f"load average (1 min) at start: {start_load:.2f}" + ("  WARNING: machine busy" if start_load > 1 else ""))
    work = Path(tempfile.mkdtemp(prefix="parley-many-users-"))
    agents = max(args.sessions, *(args.ramp or [0]))
    with FakeTwilio() as twilio:
        ws = generate(work, agents=agents, conversations=args.conversations)
        server = mu.Server(work, ws.db_path, twilio, profile=args.profile)
        profile = Profile(args.profile)
        server.start()
        errors, acked, replies = [], set(), []
        try:
            mu.run_sessions(server.base, ws, 1, 2, mu.Results(), reply_every=0)  # imports and caches, once
            # One session alone waits for nothing but its own run, whatever it reads between clicks, so
            # the idle phase clicks more often: with 3 s of reading it took 7 My Inbox samples in 60 s,
            # and a p95 of 7 samples is their slowest one (the ratio's denominator was noise).
            idle, _ = phase(server, ws, twilio, 1, args.seconds, 0, min(args.think, IDLE_THINK))
            print(line("idle: My Inbox (1 session)", idle.inbox))
            print(line("idle: Conversation (1 session)", idle.conversation))
            print(line("idle: Conversation, composer on screen", idle.conversation_composer))
            server_lines("idle", idle)
            fresh = mu.Results()
            mu.first_visits(server.base, ws, IDLE_FIRST_VISITS, fresh)
            print(line(f"idle: first visit, My Inbox ({IDLE_FIRST_VISITS} new tabs)", fresh.first_inbox))
            print(line("idle: first visit, Conversation", fresh.first_conversation))
            profile.start()
            loaded, hooks = phase(server, ws, twilio, args.sessions, args.seconds, args.webhooks, args.think)
            profile.save("loaded")
            first = resend_failed(server.base, twilio.auth_token, hooks, time.monotonic() + 300)
            label = f"{args.sessions} sessions + {args.webhooks:g} webhooks/s"
            print(f"each session clicks, then reads for {args.think:g} s on average before the next click")
            print(line(f"loaded: My Inbox ({label})", loaded.inbox))
            print(line(f"loaded: Conversation ({label})", loaded.conversation))
            print(line("loaded: Conversation, composer on screen", loaded.conversation_composer))
            print(line("loaded: first visit, My Inbox", loaded.first_inbox))
            print(line("loaded: first visit, Conversation", loaded.first_conversation))
            print(line("loaded: reply (Send to page done)", loaded.reply))
            server_lines("loaded", loaded)
            idle_inbox, idle_conv = mu.percentile(idle.inbox, 95), mu.percentile(idle.conversation, 95)
            print(f"My Inbox p95 loaded ÷ idle {mu.percentile(loaded.inbox, 95) / idle_inbox:.2f}")
            print(f"Conversation p95 loaded ÷ idle {mu.percentile(loaded.conversation, 95) / idle_conv:.2f}")
            idle_composer = mu.percentile(idle.conversation_composer, 95)
            print(
                "Conversation p95 until the composer is on screen, loaded ÷ idle "
                f"{mu.percentile(loaded.conversation_composer, 95) / idle_composer:.2f}"
            )
            for page, kind in (("My Inbox", "first_inbox"), ("Conversation", "first_conversation")):
                ratio = mu.percentile(getattr(loaded, kind), 95) / mu.percentile(getattr(fresh, kind), 95)
                print(f"first visit, {page} p95 loaded ÷ idle {ratio:.2f}")
            print(f"webhooks acknowledged {len(hooks.acked):,}; sent again after no answer or a 5xx {len(first):,}; "
                  f"refused {len(hooks.refused)}")  # fmt: skip
            errors += idle.errors + fresh.errors + loaded.errors
            errors += [f"webhook never acknowledged: {s}" for s, _, _ in hooks.failed]
            errors += [f"webhook refused: {sid}: {why}" for sid, why in hooks.refused]
            acked |= set(hooks.acked)
            replies += idle.replies + loaded.replies
            held = None
            for level in args.ramp:
                ramp, ramp_hooks = phase(server, ws, twilio, level, args.seconds, args.webhooks, args.think)
                resend_failed(server.base, twilio.auth_token, ramp_hooks, time.monotonic() + 300)
                errors += [f"webhook refused: {sid}: {why}" for sid, why in ramp_hooks.refused]
                errors += [f"webhook never acknowledged: {s}" for s, _, _ in ramp_hooks.failed]
                acked |= set(ramp_hooks.acked)
                replies += ramp.replies
                p95 = mu.percentile(ramp.inbox, 95)
                print(line(f"ramp: My Inbox, {level} sessions", ramp.inbox) + f"   {p95 / idle_inbox:.2f}× idle")
                errors += ramp.errors
                if p95 > 2 * idle_inbox:
                    break
                held = level
            if args.ramp:
                if held == args.ramp[-1]:
                    print(f"sessions before p95 doubles: more than {held}")
                else:
                    print(f"sessions before p95 doubles: {held or 0}")
            # Acknowledged means stored: let the applier and the dispatcher finish before counting.
            if not server.wait_applied(0, time.monotonic() + 300):
                errors.append("the applier did not finish the stored webhooks within 300 s")
            if not mu.wait_sent(twilio, {text for _, text in replies}, time.monotonic() + 300):
                errors.append("the dispatcher did not send every reply within 300 s")
        finally:
            server.stop()
        stored = mu.webhook_messages(ws.db_path)
        lost = sorted(acked - set(stored))
        twice = sorted(sid for sid, n in stored.items() if n > 1)
        problems = mu.reply_problems(ws.db_path, replies, twilio)
        print(f"webhooks acknowledged {len(acked):,}: in the database {len(acked & set(stored)):,}, lost "
              f"{len(lost)}, twice {len(twice)}; replies {len(replies):,}, not recorded or not sent once "
              f"{len(problems)}")  # fmt: skip
        errors += [f"webhook lost: {sid}" for sid in lost] + [f"webhook stored twice: {sid}" for sid in twice]
        errors += problems
        print(f"errors {len(errors)}")
        for error in errors[:20]:
            print("  " + error)
    end_load = load_average()
    print(f"load average (1 min) at end: {end_load:.2f}" + ("  WARNING: machine busy" if end_load > 1 else ""))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
