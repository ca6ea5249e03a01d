"""The applier: stored webhooks become messages and statuses, many per transaction."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import pytest

from core import clock, ingest_apply
from core.actions import messaging
from core.engine import ProviderBook
from core.ingest_apply import WebhookApplier
from core.media_store import MediaStore
from tests import factories as f

OURS = "+14155550100"


@pytest.fixture
def applier(db, tmp_path, make_user):
    f.always_open(db)
    admin = make_user("ada", "admin")
    f.add_sender(db, phone=OURS)
    book = ProviderBook(db, simulator_url="http://127.0.0.1:9/webhooks/simulator", simulator_secret=b"s", demo=False)
    return WebhookApplier(db, book, MediaStore(tmp_path / "media")), admin


def store(db, *payloads, raw=None, received_at=None):
    rows = [json.dumps(p).encode() for p in payloads] + ([raw] if raw is not None else [])
    for body in rows:
        db.write(
            lambda tx, b=body: tx.execute(
                "INSERT INTO webhook_inbox (received_at, provider, state, url, content_type, body) "
                "VALUES (?, 'simulator', 'pending', '/webhooks/simulator', 'application/json', ?)",
                [received_at or clock.utcnow(), b],
            )
        )


def status(pid, value, seconds=0):
    at = clock.utcnow() + dt.timedelta(seconds=seconds)
    return {"type": "status", "id": pid, "status": value, "at": at.isoformat()}


def test_a_mixed_backlog_is_applied_in_one_step(db, applier, monkeypatch):
    app, admin = applier
    store(
        db,
        {
            "type": "inbound",
            "id": "SIMin1",
            "channel": "sms",
            "from": "+14158675309",
            "to": OURS,
            "body": "Hi, is Tuesday free?",
            "at": clock.utcnow().isoformat(),
        },
    )
    assert app.step() is True
    cid = db.scalar("SELECT id FROM conversations")
    mids = [messaging.do_send(db, admin, cid, f"reply {i}") for i in range(30)]
    db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'sending', provider_message_id = 'SIM' || id WHERE id IN "
            "(SELECT unnest(?::BIGINT[]))",
            [mids],
        )
    )
    # Out of order on purpose: each message's 'delivered' is stored before its 'sent'.
    store(
        db,
        *[status(f"SIM{m}", "delivered", 2) for m in mids],
        *[status(f"SIM{m}", "sent", 1) for m in mids],
        status("SIMnobody", "delivered"),
        raw=b"not json",
    )
    statuses_before = db.scalar("SELECT count(*) FROM events WHERE name = 'message.status'")
    assert app.step() is True
    assert db.fetchall("SELECT DISTINCT status FROM messages WHERE id IN (SELECT unnest(?::BIGINT[]))", [mids]) == [
        ("delivered",)
    ]
    states = dict(db.fetchall("SELECT state, count(*) FROM webhook_inbox GROUP BY state"))
    assert states == {"applied": 61, "pending": 1, "malformed": 1}
    assert db.scalar("SELECT error FROM webhook_inbox WHERE state = 'pending'") == "Waiting for message id SIMnobody"
    # One event per message whose status moved (the late 'sent' moved nothing back).
    assert db.scalar("SELECT count(*) FROM events WHERE name = 'message.status'") - statuses_before == 30
    # After the grace period the unknown id is kept, marked, and no longer retried.
    monkeypatch.setattr(ingest_apply, "UNKNOWN_ID_GRACE", dt.timedelta(0))
    clock.freeze(clock.utcnow() + dt.timedelta(seconds=5))
    assert app.step() is True
    assert db.fetchone("SELECT state, error FROM webhook_inbox WHERE CAST(body AS VARCHAR) LIKE '%SIMnobody%'") == (
        "applied",
        "Unknown message id SIMnobody: Parley never sent it",
    )
    assert app.step() is False


def test_inbound_for_a_sender_that_is_gone_is_kept_and_marked(db, applier):
    app, _ = applier
    store(
        db,
        {
            "type": "inbound",
            "id": "SIMin2",
            "channel": "sms",
            "from": "+14158675309",
            "to": "+14155550111",
            "body": "Hello?",
            "at": clock.utcnow().isoformat(),
        },
    )
    assert app.step() is True
    assert db.fetchone("SELECT state, error FROM webhook_inbox") == ("unknown_sender", "Sender no longer exists")
    assert db.scalar("SELECT count(*) FROM messages") == 0


def test_one_webhook_that_cannot_be_applied_does_not_hold_up_the_others(db, applier, monkeypatch):
    app, _ = applier
    real = ingest_apply.apply_inbound_batch

    def flaky(tx, items):
        if any(item.event.provider_message_id == "SIMbad" for item in items):
            raise RuntimeError("simulated bug")
        return real(tx, items)

    monkeypatch.setattr(ingest_apply, "apply_inbound_batch", flaky)
    store(
        db,
        *[
            {
                "type": "inbound",
                "id": pid,
                "channel": "sms",
                "from": f"+1415867530{i}",
                "to": OURS,
                "body": "Hello",
                "at": clock.utcnow().isoformat(),
            }
            for i, pid in enumerate(["SIMa", "SIMbad", "SIMb"])
        ],
    )
    assert app.step() is True
    assert sorted(r[0] for r in db.fetchall("SELECT provider_message_id FROM messages")) == ["SIMa", "SIMb"]
    assert db.fetchone("SELECT state, error FROM webhook_inbox WHERE CAST(body AS VARCHAR) LIKE '%SIMbad%'") == (
        "error",
        "Could not be applied: RuntimeError: simulated bug",
    )
    assert app.failed == 1 and app.step() is False  # kept for review, not retried forever


def inbound(n: int) -> dict:
    return {
        "type": "inbound",
        "id": f"SIMburst{n}",
        "channel": "sms",
        "from": f"+1415867{n:04d}",
        "to": OURS,
        "body": f"Burst message {n}",
        "at": clock.utcnow().isoformat(),
    }


def test_during_a_burst_a_step_waits_for_a_fuller_set_but_never_after_a_quiet_spell(db, applier):
    """Issue 18: sets of the few webhooks each group commit stored kept the one write path busy
    while every acknowledgement waited behind it."""
    plain, _admin = applier
    clock_now = [100.0]
    waits: list[float] = []
    arriving = [[inbound(2), inbound(3), inbound(4)]]  # what comes in while the step waits

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if arriving:
            store(db, *arriving.pop())
        clock_now[0] += seconds

    app = WebhookApplier(
        db, plain.providers, plain.media, gather_seconds=0.25, sleep=sleep, monotonic=lambda: clock_now[0]
    )
    pending = "SELECT count(*) FROM webhook_inbox WHERE state = 'pending'"

    store(db, inbound(1))  # the first after a quiet spell: applied at once
    assert app.step() is True
    assert waits == [] and db.scalar(pending) == 0

    clock_now[0] += 0.5  # the burst goes on: the next step waits once, and takes what came meanwhile
    store(db, inbound(5))
    assert app.step() is True
    assert waits == [0.25] and db.scalar(pending) == 0
    assert db.scalar("SELECT count(*) FROM messages WHERE direction = 'in'") == 5

    clock_now[0] += 5  # quiet for a while: at once again
    store(db, inbound(6))
    assert app.step() is True
    assert waits == [0.25] and db.scalar(pending) == 0
    assert app.step() is False and waits == [0.25]  # nothing pending: no wait either


def inbound_with_media(pid: str, phone: str, media: list) -> dict:
    return {
        "type": "inbound",
        "id": pid,
        "channel": "sms",
        "from": phone,
        "to": OURS,
        "body": "photo",
        "media": media,
        "at": clock.utcnow().isoformat(),
    }


def test_an_attachment_with_values_of_the_wrong_type_does_not_stop_the_applier(db, applier):
    """Review finding 3: a content type that is not text ("content_type": 5) raised AttributeError
    out of step(); nothing was marked, so the worker met the same rows each second and no webhook
    behind it was ever applied. A checksum that is not text did the same."""
    app, _ = applier
    store(
        db,
        inbound_with_media("SIModd", "+14158675301", [{"url": "data:,hello", "content_type": 5, "filename": ["a"]}]),
        inbound_with_media(
            "SIMsum", "+14158675302", [{"url": "data:,hello", "content_type": "text/plain", "sha256": 7}]
        ),
        {
            "type": "inbound",
            "id": "SIMfine",
            "channel": "sms",
            "from": "+14158675303",
            "to": OURS,
            "body": "Is Tuesday free?",
            "at": clock.utcnow().isoformat(),
        },
    )
    assert app.step() is True
    rows = db.fetchall("SELECT provider_message_id, has_media, error_reason FROM messages ORDER BY provider_message_id")
    assert rows == [
        ("SIMfine", False, None),
        ("SIModd", True, None),
        ("SIMsum", False, "Attachment 1 could not be downloaded: Media checksum did not match"),
    ]
    # An unknown claimed type: the bytes say what they are; no file name given: Parley names it.
    assert db.fetchall("SELECT content_type, filename, size FROM media") == [("text/plain", "attachment-1.txt", 5)]
    assert dict(db.fetchall("SELECT state, count(*) FROM webhook_inbox GROUP BY 1")) == {"applied": 3}
    assert app.step() is False


DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_an_attachment_sent_without_a_name_is_named_with_its_types_extension(db, applier):
    """Twilio never sends a file name: Parley names the file from its type, with the extension a
    computer opens it by. It took the type's subtype as the extension: a Word file became
    'attachment-1.vnd.openxmlformats-officedocument.wordprocessingml.document', which the thread
    offered, and a download saved, as a '.document' file nothing opens."""
    app, _ = applier
    zipped = "data:;base64,UEsDBBQAAAAIAAAAIQA="  # a zip's first bytes: what an Office file is inside
    store(
        db,
        inbound_with_media(
            "SIMdocs",
            "+14158675304",
            [
                {"url": zipped, "content_type": DOCX},
                {"url": zipped, "content_type": XLSX},
                {"url": "data:,BEGIN:VCARD%0AFN:Zo%C3%AB%0AEND:VCARD", "content_type": "text/x-vcard"},
            ],
        ),
    )
    assert app.step() is True
    assert db.fetchall("SELECT content_type, filename FROM media ORDER BY id") == [
        (DOCX, "attachment-1.docx"),
        (XLSX, "attachment-2.xlsx"),
        ("text/vcard", "attachment-3.vcf"),
    ]


def test_an_unexpected_error_with_one_attachment_is_recorded_on_its_message(db, applier, monkeypatch):
    """Whatever a download raises, the message is stored with the reason and the others go on."""
    app, _ = applier
    from core.providers.simulator import SimulatorProvider

    real = SimulatorProvider.fetch_media

    def fetch(self, media):
        if media.url == "data:,boom":
            raise AttributeError("'int' object has no attribute 'split'")
        return real(self, media)

    monkeypatch.setattr(SimulatorProvider, "fetch_media", fetch)
    store(
        db,
        inbound_with_media("SIMboom", "+14158675311", [{"url": "data:,boom"}, {"url": "data:,fine"}]),
        inbound_with_media("SIMok", "+14158675312", [{"url": "data:,fine"}]),
    )
    assert app.step() is True
    rows = db.fetchall("SELECT provider_message_id, has_media, error_reason FROM messages ORDER BY provider_message_id")
    assert rows == [
        ("SIMboom", True, "Attachment 1 could not be downloaded (AttributeError)."),
        ("SIMok", True, None),
    ]
    assert db.scalar("SELECT count(*) FROM media") == 2
    assert app.step() is False


def test_a_webhook_that_cannot_even_be_read_is_kept_for_review_and_the_others_applied(db, applier, monkeypatch):
    """The backstop: an unexpected error while reading one stored webhook marks only that one."""
    app, _ = applier
    real = app.providers.sender_for

    def sender_for(name, event):
        if event.provider_message_id == "SIMbroken":
            raise KeyError("channel")
        return real(name, event)

    monkeypatch.setattr(app.providers, "sender_for", sender_for)
    store(
        db,
        *[
            {
                "type": "inbound",
                "id": pid,
                "channel": "sms",
                "from": f"+1415867532{i}",
                "to": OURS,
                "body": "Hello",
                "at": clock.utcnow().isoformat(),
            }
            for i, pid in enumerate(["SIMbefore", "SIMbroken", "SIMafter"])
        ],
    )
    assert app.step() is True
    assert sorted(r[0] for r in db.fetchall("SELECT provider_message_id FROM messages")) == ["SIMafter", "SIMbefore"]
    assert db.fetchone("SELECT state, error FROM webhook_inbox WHERE CAST(body AS VARCHAR) LIKE '%SIMbroken%'") == (
        "error",
        "Could not be applied: KeyError: 'channel'",
    )
    assert app.failed == 1 and app.step() is False


def test_the_applier_waits_for_an_attachment_no_longer_than_its_time_limit(db, applier, monkeypatch):
    """Review finding 4, the applier's side: it waited for every download with no bound before
    applying anything, so one stuck download held up every webhook behind it."""
    app, _ = applier
    from core.providers.simulator import SimulatorProvider

    real, release = SimulatorProvider.fetch_media, threading.Event()

    def fetch(self, media):
        if media.url == "data:,stuck":
            release.wait(30)
        return real(self, media)

    monkeypatch.setattr(SimulatorProvider, "fetch_media", fetch)
    monkeypatch.setattr(ingest_apply, "MEDIA_WAIT_SECONDS", 0.5)
    store(
        db,
        inbound_with_media("SIMstuck", "+14158675331", [{"url": "data:,stuck"}]),
        inbound_with_media("SIMquick", "+14158675332", [{"url": "data:,fine"}]),
    )
    started = time.monotonic()
    try:
        assert app.step() is True
        took = time.monotonic() - started
    finally:
        release.set()
    rows = db.fetchall("SELECT provider_message_id, has_media, error_reason FROM messages ORDER BY provider_message_id")
    assert rows == [
        ("SIMquick", True, None),
        ("SIMstuck", False, "The attachments took longer than 0.5 s to download."),
    ]
    assert took < 10


def test_a_slow_attachment_waits_for_a_later_step_while_the_webhooks_behind_it_are_applied(db, applier, monkeypatch):
    """One slow media host held every webhook behind it for as long as the download's own limit
    (82 s): now a step waits for attachments a short while, applies the rest, and takes the slow
    one up again once its download is done, downloaded once and applied once."""
    app, _ = applier
    from core.providers.simulator import SimulatorProvider

    real, release, fetched = SimulatorProvider.fetch_media, threading.Event(), []

    def fetch(self, media):
        fetched.append(media.url)
        if media.url == "data:,slow":
            release.wait(30)
        return real(self, media)

    monkeypatch.setattr(SimulatorProvider, "fetch_media", fetch)
    monkeypatch.setattr(ingest_apply, "STEP_MEDIA_WAIT_SECONDS", 0.3)
    clock.freeze(dt.datetime(2026, 12, 7, 15, 0))
    store(db, inbound_with_media("SIMslow", "+14158675341", [{"url": "data:,slow"}]))
    store(
        db,
        {
            "type": "inbound",
            "id": "SIMtext",
            "channel": "sms",
            "from": "+14158675342",
            "to": OURS,
            "body": "Are you open today?",
            "at": clock.utcnow().isoformat(),
        },
    )
    started = time.monotonic()
    assert app.step() is True
    assert time.monotonic() - started < 5
    assert db.fetchall("SELECT provider_message_id FROM messages") == [("SIMtext",)]
    assert db.fetchall("SELECT state, error FROM webhook_inbox ORDER BY id") == [
        ("pending", "Downloading its attachments"),
        ("applied", None),
    ]
    assert (app.applied, app.step()) == (1, False)  # the text only; the other is not due again yet
    release.set()
    clock.freeze(dt.datetime(2026, 12, 7, 15, 0, 2))
    assert app.step() is True
    assert db.fetchall(
        "SELECT provider_message_id, has_media, error_reason FROM messages ORDER BY provider_message_id"
    ) == [("SIMslow", True, None), ("SIMtext", False, None)]
    assert db.scalar("SELECT count(*) FROM media") == 1
    assert fetched == ["data:,slow"]  # downloaded once, across both steps
    assert db.fetchall("SELECT state FROM webhook_inbox ORDER BY id") == [("applied",), ("applied",)]
    assert app.applied == 2
