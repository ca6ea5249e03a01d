"""A campaign of 100k recipients: build the audience and queue it (target ≤ 3 s), then drain it.

On a generated workspace (100k conversations, 1M messages, the generator's
varied names; ``--workspace`` copies one made by ``bench.generate``, else one
is generated here), ``--recipients`` contacts carry the tag ``spring`` along
with some opted-out and archived ones (excluded, as in life). Each run opens
the database afresh and times what the person sending waits for:

- *preview*: ``check_campaign`` (audience with every exclusion, variables,
  texts, segments, cost, first send time under business and quiet hours);
- *send*: ``do_send_campaign`` (the same checks again, then one transaction
  writing every message and outbox row); target ≤ 3 s.

Then the real dispatcher drains the last campaign to a loopback Twilio (its
own process, real HTTP) while a second campaign goes through a sender
limited to ``--limit`` messages/s: target ≥ 500 sends/s for the first, and
never more than the limit started in any one-second window for the second.

    python -m bench.bench_campaign [--workspace data/bench.duckdb] [--recipients 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.dispatch_harness import CpuMeter, FakeTwilioProcess, Profile, start_dispatcher, statuses, wait_for
from core import clock, events, schema, settings
from core.actions import campaigns, queued_campaigns
from core.actions.campaigns import CampaignDraft, _queue
from core.actions.users import do_create_user
from core.campaigns.audience import AudienceSpec, VariableSource
from core.db import Database
from core.media_store import MediaStore
from tests import factories

BODY = (
    "Hi {{first_name}}, spring is here and so is your check-up at Brightside Dental. "
    "Reply YES to book a time, or STOP to opt out."
)


def load() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def say_load(when: str) -> None:
    value = load()
    warning = "   (above 1: the machine is busy; re-measure on a quiet one)" if value > 1 else ""
    print(f"load average (1 min) {when}: {value:.2f}{warning}", flush=True)


def prepare(path: Path, workspace: str | None, recipients: int, limited: int) -> None:
    if workspace:
        shutil.copyfile(workspace, path)
        db = Database(path)
        schema.migrate(db)
    else:
        from bench.generate import per_conversation_range
        from generator.write import generate_workspace

        db = Database(path)
        schema.migrate(db)
        print("generating a workspace (100k conversations, 1M messages)…", flush=True)
        generate_workspace(
            db,
            MediaStore(path.parent / "media"),
            agents=20,
            contacts=recipients + limited + 5_000,
            conversations=100_000,
            messages_per_conversation=per_conversation_range(1_000_000, 100_000, 10_000),
            big_conversation_messages=10_000,
            campaigns=20,
            demo=False,
        )
    settings.ensure_defaults(db)
    factories.always_open(db)  # every message is due at once: the drain measures the dispatcher
    eligible = db.scalar("SELECT count(*) FROM contacts WHERE NOT opted_out AND NOT archived")
    if eligible < recipients + limited:
        raise SystemExit(f"the workspace has {eligible:,} contacts who can receive; need {recipients + limited:,}")

    def tag(tx):
        tx.execute("UPDATE contacts SET tags = NULL")
        tx.execute(
            """UPDATE contacts SET tags = 'spring' WHERE id IN (SELECT id FROM contacts
               WHERE NOT opted_out AND NOT archived ORDER BY id LIMIT ?)""",
            [recipients],
        )
        tx.execute(
            """UPDATE contacts SET tags = 'limited' WHERE id IN (SELECT id FROM contacts
               WHERE NOT opted_out AND NOT archived AND tags IS NULL ORDER BY id LIMIT ?)""",
            [limited],
        )
        tx.execute("UPDATE contacts SET tags = 'spring' WHERE opted_out")  # excluded: opted out
        # The generated workspace's own queue (replies waiting for hours) would go first and be counted.
        tx.execute("UPDATE outbox SET state = 'cancelled' WHERE state IN ('pending', 'claimed')")

    db.write(tag)
    db.checkpoint()
    db.close()


def draft(sender: int, template: int, tag: str, name: str) -> CampaignDraft:
    return CampaignDraft(
        name=name,
        sender_id=sender,
        template_id=template,
        audience=AudienceSpec("tag", tag=tag),
        sources={"first_name": VariableSource("field", "first_name", "there")},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspace", default=None, help="a workspace made by bench.generate (copied, not changed)")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit", type=float, default=100, help="the limited sender's messages/s")
    parser.add_argument("--limited", type=int, default=1_000, help="recipients of the rate-limited campaign")
    parser.add_argument("--no-drain", action="store_true", help="time the queuing only")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--profile", metavar="OUT", help="write a CPU profile of the drain (bench.sampler) to OUT")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="parley-campaign-"))
    path = workdir / "parley.duckdb"
    fake = None if args.no_drain else FakeTwilioProcess()
    worker = None
    os.environ.update(  # the Twilio senders' credentials: the fake's
        PARLEY_TWILIO_ACCOUNT_SID="AC" + "b3" * 16, PARLEY_TWILIO_AUTH_TOKEN="bench-auth-token"
    )
    try:
        say_load("at the start")
        prepare(path, args.workspace, args.recipients, args.limited)
        db = Database(path)
        admin = (
            do_create_user(db, None, "benchadmin", "Bench Admin", "admin", "bench-password")
            if not db.scalar("SELECT count(*) FROM users WHERE role = 'admin'")
            else None
        )
        admin_id = admin.id if admin else db.scalar("SELECT min(id) FROM users WHERE role = 'admin' AND active")
        fast = factories.add_sender(db, provider="twilio", phone="+14155550180", rate=100_000, label="Bench fast")
        slow = factories.add_sender(db, provider="twilio", phone="+14155550181", rate=args.limit, label="Bench limited")
        template = factories.add_template(db, name="Spring check-up", kind="campaign", channel="sms", body=BODY)
        sizes = db.fetchone(
            "SELECT (SELECT count(*) FROM contacts), (SELECT count(*) FROM conversations), (SELECT count(*) FROM messages)"
        )
        db.checkpoint()
        db.close()
        print(f"workspace: {sizes[0]:,} contacts, {sizes[1]:,} conversations, {sizes[2]:,} messages", flush=True)

        previews, sends, queue_tx, ids, cpus = [], [], [], [], []
        for run in range(1, args.runs + 1):
            db = Database(path)  # a fresh start: nothing cached from the last run
            from core.auth import get_user

            actor = get_user(db, admin_id)
            started = time.perf_counter()
            preview = campaigns.check_campaign(db, actor, draft(fast, template, "spring", f"Spring {run}"))
            previews.append(time.perf_counter() - started)
            started, cpu = time.perf_counter(), time.process_time()
            again = campaigns.check_campaign(db, actor, draft(fast, template, "spring", f"Spring {run}"))
            checked = time.perf_counter()
            cid = db.write(_queue, actor, again)  # exactly what do_send_campaign does after its checks
            done = time.perf_counter()
            cpus.append(time.process_time() - cpu)
            sends.append(done - started)
            queue_tx.append(done - checked)
            ids.append(cid)
            queued = db.scalar(
                "SELECT count(*) FROM outbox o JOIN messages m ON m.id = o.message_id WHERE m.campaign_id = ?", [cid]
            )
            print(
                f"run {run}: preview {previews[-1]:5.2f} s   send {sends[-1]:5.2f} s (checks {checked - started:4.2f} s, "
                f"queue transaction {done - checked:4.2f} s; CPU {cpus[-1]:4.2f} s)   {preview.audience.size:,} recipients, "
                f"{sum(preview.audience.counts.values()):,} excluded {preview.audience.counts}, "
                f"{preview.estimate.segments:,} segments; {queued:,} queued",
                flush=True,
            )
            if run < args.runs:  # only the last one is drained
                queued_campaigns.do_cancel(db, actor, cid)
            db.checkpoint()
            db.close()
        median = statistics.median(sends)
        print(
            f"campaign of {args.recipients:,}: preview p50 {statistics.median(previews):.2f} s; "
            f"build + queue p50 {median:.2f} s (max {max(sends):.2f} s), of which the queue transaction "
            f"p50 {statistics.median(queue_tx):.2f} s; CPU used p50 {statistics.median(cpus):.2f} s   "
            f"{'OK' if median <= 3 else 'OVER TARGET (3 s)'}",
            flush=True,
        )
        say_load("after queuing")
        if args.no_drain:
            return 0 if median <= 3 else 1

        db = Database(path)
        from core.auth import get_user

        actor = get_user(db, admin_id)
        acks: dict[int, tuple[float, float, float]] = {}
        dispatcher, worker, book = start_dispatcher(db, fake.url, acks, threads=None, batch=None)
        db.subscribe(events.CAMPAIGN_QUEUED, lambda _e: worker.wake())
        profile = Profile(Path(args.profile)) if args.profile else None
        began = time.perf_counter()
        limited_id = campaigns.do_send_campaign(db, actor, draft(slow, template, "limited", "Limited sender"))
        total = args.recipients + args.limited
        meter, rounds = CpuMeter(worker), dispatcher.rounds
        finished = wait_for(dispatcher, total, timeout=max(600, total / 50))
        cpu, rounds = meter.per_send(total), dispatcher.rounds - rounds
        if profile is not None:
            profile.write()
        pending = db.scalar(
            "SELECT count(*) FROM messages WHERE campaign_id IN (?, ?) AND status IN ('queued', 'sending')",
            [ids[-1], limited_id],
        )
        if pending and dispatcher.sent + dispatcher.failed > total:
            raise SystemExit("the dispatcher sent messages that are not the campaigns': the workspace's queue")
        big = [r[0] for r in db.fetchall("SELECT id FROM messages WHERE campaign_id = ?", [ids[-1]])]
        small = [r[0] for r in db.fetchall("SELECT id FROM messages WHERE campaign_id = ?", [limited_id])]
        big_done = max(acks[m][0] for m in big)
        rate = len(big) / (big_done - min(acks[m][2] for m in big))
        times = sorted(acks[m][2] for m in small)
        windows = [
            np.searchsorted(times, t + 1.0, side="left") - i for i, t in enumerate(times) if t + 1.0 <= times[-1]
        ]
        most = max(windows) if windows else len(times)
        steady = (len(times) - int(args.limit)) / (times[-int(args.limit)] - times[0]) if len(times) > args.limit else 0
        held = most <= args.limit and steady >= 0.9 * args.limit
        print(
            f"drain {len(big):,} to loopback Twilio: {rate:,.0f} sends/s   {'OK' if rate >= 500 else 'UNDER TARGET (500/s)'}"
            f"   (both campaigns done in {finished - began:.1f} s)"
        )
        print(f"  {CpuMeter.line(cpu)}; {rounds:,} rounds, {total / max(1, rounds):.0f} sends a round")
        print(
            f"sender limited to {args.limit:g}/s, {len(small):,} at the same time: {steady:.1f} sends/s, most started in "
            f"any 1 s window {most}   {'OK' if held else 'NOT HELD'}"
        )
        print(f"statuses: {statuses(db, big)} / {statuses(db, small)}")
        worker.stop(timeout=30)
        worker = None
        book.close()
        received = fake.finish()
        print(f"fake Twilio received {received['sends']:,} sends; expected {total:,}")
        say_load("at the end")
        ok = median <= 3 and rate >= 500 and held and received["sends"] == total
        print("targets (queue ≤ 3 s, ≥ 500 sends/s, rate limit held, each sent once):", "met" if ok else "NOT met")
        db.close()
        return 0 if ok else 1
    finally:
        if worker is not None:
            worker.stop(timeout=30)
        if fake is not None and fake.proc.poll() is None:
            fake.proc.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    clock.freeze(None)
    sys.exit(main())
