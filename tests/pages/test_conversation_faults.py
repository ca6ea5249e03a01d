"""The conversation page when things go wrong (issue 18).

- An "image/png" whose bytes are not a picture (stored before Parley sniffed types on
  arrival, or by any other way in) shows as a plain download, never a traceback, and every
  message of the thread stays visible.
- A message waiting out a provider outage says so, and when it will be tried again.
"""

from __future__ import annotations

import datetime as dt
import secrets

from core import clock
from core.actions import messaging
from tests.conftest import demo_user

PAGE = "pages/conversation.py"


def add_messages_with_a_lying_image(rt, cid: int) -> list[str]:
    db = rt.db
    sha = rt.media.put(b"<html>definitely not a png</html>")
    contact, sender = db.fetchone("SELECT contact_id, sender_id FROM conversations WHERE id = ?", [cid])
    bodies = [f"Message {n} around the broken picture" for n in range(7)]

    def write(tx):
        now = clock.utcnow()
        for n, body in enumerate(bodies):
            mid = tx.scalar(
                "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, body, status, "
                "provider_message_id, created_at, status_at, has_media) VALUES (?, ?, ?, 'in', ?, 'received', ?, ?, ?, ?) "
                "RETURNING id",
                [cid, contact, sender, body, f"SMbroken{n}", now, now, n == 3],
            )
            if n == 3:
                tx.execute(
                    "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
                    "VALUES (?, ?, 'image/png', 'photo.png', 33, ?, ?)",
                    [mid, sha, secrets.token_urlsafe(24), now],
                )

    db.write(write)
    return bodies


def test_an_unreadable_image_is_a_download_and_hides_nothing(app_as, demo_runtime):
    db = demo_runtime.db
    maria = demo_user(db, "maria")
    cid = db.scalar("SELECT id FROM conversations WHERE owner_id = ? ORDER BY id LIMIT 1", [maria.id])
    bodies = add_messages_with_a_lying_image(demo_runtime, cid)
    at = app_as("maria", PAGE, {"id": cid})
    assert not at.exception
    shown = [str(t.value) for t in at.text]
    assert all(body in shown for body in bodies)
    labels = [b.proto.label for b in at.get("download_button")]
    assert any("photo.png" in label for label in labels)


def test_a_message_waiting_out_an_outage_says_why_and_when(app_as, demo_runtime):
    db = demo_runtime.db
    maria = demo_user(db, "maria")
    cid = db.scalar(
        "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id JOIN senders s ON s.id = c.sender_id "
        "WHERE c.owner_id = ? AND NOT ct.opted_out AND s.channel = 'sms' ORDER BY c.id LIMIT 1",
        [maria.id],
    )
    mid = messaging.do_send(db, maria, cid, "Are you still coming at 4?")
    clock.freeze(dt.datetime(2026, 3, 2, 15, 0))  # 10:00 AM in New York
    retry_at = dt.datetime(2026, 3, 2, 15, 3)
    db.write(
        lambda tx: tx.execute(
            # As the dispatcher records a retry (whatever the send met first, e.g. business hours).
            "UPDATE messages SET status = 'queued', queued_reason = 'retry', error_reason = ?, release_at = ? "
            "WHERE id = ?",
            ["provider unavailable (HTTP 500: Internal Server Error)", retry_at, mid],
        )
    )
    at = app_as("maria", PAGE, {"id": cid})
    captions = [str(c.value) for c in at.caption]
    assert any(
        "🕓 Queued — provider unavailable (HTTP 500: Internal Server Error), retrying at 10:03 AM" in c
        for c in captions
    ), [c for c in captions if "Queued" in c or "queued" in c]
