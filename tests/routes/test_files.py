"""``/files/<token>``: an outgoing attachment is served under a name that says what it is, never a
provider's media id, with the right extension (Content-Disposition, written out)."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from core import clock
from tests import factories as f

SENT = dt.datetime(2026, 12, 4, 15, 32)


def attach(rt, *, filename, content_type, data=b"\xff\xd8\xff\xe0 not much of a picture", status="delivered"):
    sender = f.add_sender(rt.db)
    contact = f.add_contact(rt.db)
    mid = f.add_message(rt.db, contact_id=contact, sender_id=sender, body="", has_media=True, at=SENT, status=status)
    sha, token = rt.media.put(data), secrets.token_urlsafe(24)
    rt.db.write(
        lambda tx: tx.execute(
            "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [mid, sha, content_type, filename, len(data), token, SENT],
        )
    )
    return token


@pytest.mark.parametrize(
    "filename, content_type, disposition",
    [
        ("ME0123456789abcdef0123456789abcdef", "image/jpeg", 'attachment; filename="image-2026-12-04-1532.jpg"'),
        ("attachment-1.mpeg", "audio/mpeg", 'attachment; filename="audio-2026-12-04-1532.mp3"'),
        ("Brochure 2027.pdf", "application/pdf", "attachment; filename*=utf-8''Brochure%202027.pdf"),  # kept
    ],
)
def test_a_file_is_served_under_a_descriptive_name(server, filename, content_type, disposition):
    rt, client = server
    clock.freeze(SENT + dt.timedelta(minutes=5))  # the provider fetches it as the message goes
    response = client.get(f"/files/{attach(rt, filename=filename, content_type=content_type)}")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == content_type
    assert response.headers["content-disposition"] == disposition


@pytest.mark.parametrize(
    "status, later, served",
    [
        ("queued", dt.timedelta(days=30), True),  # still to go (outside business hours, a long outage)
        ("sending", dt.timedelta(minutes=1), True),
        ("interrupted", dt.timedelta(days=2), True),  # to be looked up and maybe sent again
        ("sent", dt.timedelta(hours=23), True),  # the provider may fetch it a while after accepting the send
        ("delivered", dt.timedelta(hours=25), False),
        ("read", dt.timedelta(days=400), False),
        ("failed", dt.timedelta(hours=25), False),
        ("not_sent", dt.timedelta(minutes=1), False),  # never went to a provider: its link was never handed out
    ],
)
def test_a_link_serves_only_while_a_provider_may_still_fetch_it(server, status, later, served):
    """The token is a bearer credential that providers keep in their logs and consoles: once the
    message has gone (a day after its last status change) or was never to go, it opens nothing."""
    rt, client = server
    token = attach(rt, filename="x-ray.jpg", content_type="image/jpeg", status=status)
    clock.freeze(SENT + later)
    response = client.get(f"/files/{token}")
    assert (response.status_code, response.content if not served else b"") == (
        (200, b"") if served else (404, b"Not found")
    )


def test_a_served_file_is_neither_cached_nor_sniffed(server):
    """A private file behind a bearer link: no shared cache keeps it, and a browser shows it as its type or not at all."""
    rt, client = server
    clock.freeze(SENT + dt.timedelta(minutes=5))
    response = client.get(f"/files/{attach(rt, filename='card.vcf', content_type='text/vcard', data=b'<html>')}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


def _handed_over(rt, token, at, status, status_at):
    """The message of ``token`` claimed by the dispatcher at ``at``, and its status moved at ``status_at``."""
    mid = rt.db.scalar("SELECT message_id FROM media WHERE token = ?", [token])
    rt.db.write(
        lambda tx: (
            tx.execute(
                "INSERT INTO outbox (message_id, sender_id, due_at, state, attempts, claimed_at, created_at) "
                "SELECT id, sender_id, ?, 'done', 1, ?, ? FROM messages WHERE id = ?",
                [at, at, at, mid],
            ),
            tx.execute("UPDATE messages SET status = ?, status_at = ? WHERE id = ?", [status, status_at, mid]),
        )
    )


def test_a_late_status_does_not_open_a_link_again(server):
    """A WhatsApp customer reads the message three days after it went: the provider fetched the file long ago."""
    rt, client = server
    token = attach(rt, filename="x-ray.jpg", content_type="image/jpeg", status="sent")
    _handed_over(rt, token, SENT, "read", SENT + dt.timedelta(days=3))
    clock.freeze(SENT + dt.timedelta(days=3, minutes=5))
    assert client.get(f"/files/{token}").status_code == 404


def test_a_retried_message_opens_its_link_for_the_new_send(server):
    rt, client = server
    token = attach(rt, filename="x-ray.jpg", content_type="image/jpeg", status="failed")
    _handed_over(rt, token, SENT + dt.timedelta(days=5), "sent", SENT + dt.timedelta(days=5))
    clock.freeze(SENT + dt.timedelta(days=5, hours=2))
    assert client.get(f"/files/{token}").status_code == 200
