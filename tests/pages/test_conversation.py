"""The conversation page: opening (rule 6), refusals, header, thread, live parts."""

from __future__ import annotations

import re

import pytest

from core import queries
from tests.conftest import demo_user

PAGE = "pages/conversation.py"


def uid(db, username):
    return db.scalar("SELECT id FROM users WHERE username = ?", [username])


# Rule 6, written out: marked unread, or a customer's message came after the one the owner read up
# to (no marker: any customer's message).
UNREAD = "coalesce(rm.unread OR c.last_inbound_id > coalesce(rm.read_upto, 0), c.last_inbound_id IS NOT NULL)"


def unread_for_owner(db, cid) -> bool:
    return bool(
        db.scalar(
            f"SELECT {UNREAD} FROM conversations c LEFT JOIN read_markers rm "
            "ON rm.user_id = c.owner_id AND rm.conversation_id = c.id WHERE c.id = ?",
            [cid],
        )
    )


def an_unread_conversation(db, username) -> int:
    cid = db.scalar(
        f"SELECT c.id FROM conversations c LEFT JOIN read_markers rm ON rm.user_id = c.owner_id "
        f"AND rm.conversation_id = c.id WHERE c.owner_id = ? AND c.status = 'open' AND {UNREAD} "
        "ORDER BY c.id LIMIT 1",
        [uid(db, username)],
    )
    assert cid is not None, "the demo workspace has unread conversations"
    return cid


def texts(at, kind) -> list[str]:
    """What the elements show: their Markdown with the escapes of people's text undone."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in getattr(at, kind)]


def all_text(at) -> str:
    return "\n".join(texts(at, "caption") + texts(at, "text") + texts(at, "markdown") + texts(at, "subheader"))


def page_exceptions(at):
    # The default page of the first run may not exist yet in a partial tree; only the page under test counts.
    return [e for e in at.exception if "conversation" in (e.stack_trace and "".join(e.stack_trace) or "")]


def test_owner_sees_the_conversation(app_as, demo_db):
    cid = demo_db.scalar(
        "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND ct.name IS NOT NULL ORDER BY c.id LIMIT 1",
        [uid(demo_db, "maria")],
    )
    name = demo_db.scalar(
        "SELECT ct.name FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?", [cid]
    )
    count = demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [cid])
    at = app_as("maria", PAGE, {"id": cid})
    assert not page_exceptions(at)
    assert not at.error
    assert name in texts(at, "subheader")[0].replace("\\", "")
    assert len(at.chat_message) == min(count, queries.THREAD_PAGE)
    assert at.text_area, "the owner gets a composer"


def test_owner_opening_marks_read(app_as, demo_db):
    maria = uid(demo_db, "maria")
    cid = an_unread_conversation(demo_db, "maria")
    before = queries.unread_count(demo_db, maria)
    app_as("maria", PAGE, {"id": cid})
    assert not unread_for_owner(demo_db, cid)
    assert queries.unread_count(demo_db, maria) == before - 1


def test_the_owner_opening_it_unread_gets_the_composer_before_the_mark_read_write(app_as, demo_db, monkeypatch):
    # The mark-read waits for the write path (up to a second while webhooks pour in): made before
    # the composer, it kept the composer off the screen all that time.
    from core.actions import conversations as conv_actions
    from pages import composer

    order = []
    draw_composer, mark_opened = composer.render, conv_actions.mark_opened
    monkeypatch.setattr(composer, "render", lambda *a, **k: (order.append("composer"), draw_composer(*a, **k))[1])
    monkeypatch.setattr(conv_actions, "mark_opened", lambda *a, **k: (order.append("mark"), mark_opened(*a, **k))[1])
    cid = an_unread_conversation(demo_db, "maria")
    at = app_as("maria", PAGE, {"id": cid})
    assert not page_exceptions(at)
    assert order == ["composer", "mark"]
    assert not unread_for_owner(demo_db, cid)


def test_the_owners_run_ends_without_waiting_for_the_mark_read_write(app_as, demo_runtime, monkeypatch):
    # While the write path is busy (webhooks pouring in, the applier's sets), the page's run ends
    # with the thread and the composer drawn; the page writer marks it read once the path frees.
    import threading

    from streamlit.testing.v1 import AppTest

    db = demo_runtime.db
    cid = an_unread_conversation(db, "maria")
    at = app_as("maria", None, {"id": cid})  # signed in, on My Inbox
    monkeypatch.setattr(AppTest, "_run", AppTest._run.unsettled)  # no waiting for the page writer
    holding, release = threading.Event(), threading.Event()
    busy = threading.Thread(target=db.write, args=(lambda tx: (holding.set(), release.wait(60)),))
    busy.start()
    try:
        assert holding.wait(30)
        at.switch_page(PAGE)
        at.run(timeout=30)  # would time out if the run waited for the write path
        assert not page_exceptions(at)
        assert at.chat_message and [w.key for w in at.text_area] == [f"compose_text_{cid}"]  # the composer
        assert unread_for_owner(db, cid)  # not written yet
    finally:
        release.set()
        busy.join(30)
    assert demo_runtime.page_writes.flush(30)
    assert not unread_for_owner(db, cid)


@pytest.mark.parametrize("viewer", ["admin", "sam"])
def test_admin_or_supervisor_reading_leaves_owner_state(app_as, demo_db, viewer):
    maria = uid(demo_db, "maria")
    cid = an_unread_conversation(demo_db, "maria")
    before = queries.unread_count(demo_db, maria)
    at = app_as(viewer, PAGE, {"id": cid})
    assert not at.error
    assert at.chat_message
    assert unread_for_owner(demo_db, cid)
    assert queries.unread_count(demo_db, maria) == before
    assert any("Unread for María López" in m for m in texts(at, "markdown"))


def test_agent_cannot_open_another_agents_conversation(app_as, demo_db):
    cid = demo_db.scalar("SELECT id FROM conversations WHERE owner_id = ? LIMIT 1", [uid(demo_db, "james")])
    at = app_as("maria", PAGE, {"id": cid})
    assert texts(at, "error") == [
        f"Conversation {cid} is assigned to someone else; you can open only the conversations in your inbox."
    ]
    assert not at.chat_message
    assert not at.text_area
    assert any("Back to My Inbox" in str(link.proto.label) for link in at.get("page_link"))


@pytest.mark.parametrize(
    "raw, sentence",
    [
        ("abc", "“abc” is not a conversation number."),
        ("999999", "There is no conversation 999999."),
        ("-3", "There is no conversation -3."),
    ],
)
def test_bad_ids_give_one_sentence(app_as, raw, sentence):
    at = app_as("maria", PAGE, {"id": raw})
    assert texts(at, "error") == [sentence]
    assert not page_exceptions(at)
    assert not at.chat_message


def test_missing_id(app_as):
    at = app_as("maria", PAGE)
    assert texts(at, "error") == ["Choose a conversation from your inbox to open it."]


def test_date_headers_and_status_with_reasons(app_as, demo_db):
    cid, reason = demo_db.fetchone(
        "SELECT m.conversation_id, m.error_reason FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.owner_id = ? AND m.status = 'failed' ORDER BY m.id LIMIT 1",
        [uid(demo_db, "maria")],
    )
    at = app_as("maria", PAGE, {"id": cid})
    captions = texts(at, "caption")
    headers = [c for c in captions if c.startswith("**") and c.endswith("**")]
    assert headers, "messages are grouped under date headers"
    failed = [c for c in captions if "⚠" in c]
    assert failed and "Failed — " in failed[0]
    assert reason.split(" (")[0] in failed[0].replace("\\", "")
    assert any("✓" in c for c in captions)


def test_not_sent_shows_reason(app_as, demo_db):
    cid = demo_db.scalar(
        "SELECT m.conversation_id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "WHERE c.owner_id = ? AND m.status = 'not_sent' LIMIT 1",
        [uid(demo_db, "maria")],
    )
    at = app_as("maria", PAGE, {"id": cid})
    assert any("⚠" in c and "Not sent — Contact opted out" in c for c in texts(at, "caption"))


def test_an_attachment_that_could_not_be_downloaded_is_said_in_its_bubble(app_as, demo_db):
    """The customer sent a file whose download failed: the bubble says so and why (rule 8), as text."""
    from core import clock
    from core.actions import inbound
    from core.providers.base import InboundEvent

    cid, phone, sender_id = demo_db.fetchone(
        "SELECT c.id, ct.phone, c.sender_id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND NOT ct.opted_out AND c.channel = 'sms' ORDER BY c.id LIMIT 1",
        [uid(demo_db, "maria")],
    )
    sender = demo_db.dicts("SELECT * FROM senders WHERE id = ?", [sender_id])[0]
    event = InboundEvent("SMimg9", "sms", phone, sender["phone"], None, "Here", clock.utcnow())
    why = "Attachment 1 could not be downloaded: [photo](http://x.example) *404*"
    demo_db.write(lambda tx: inbound.apply_inbound(tx, event, sender, [], [why]))
    at = app_as("maria", PAGE, {"id": cid})
    shown = [c for c in texts(at, "caption") if "could not be downloaded" in c]
    # The provider's words as typed, never a link (a word joiner after "http" keeps it from becoming one).
    expected = "· :red[⚠ Attachment 1 could not be downloaded: [photo](http\u2060://x.example) *404*]"
    assert len(shown) == 1 and shown[0].endswith(expected), texts(at, "caption")
    raw = [str(c.value) for c in at.caption if "could not be downloaded" in str(c.value)]
    assert "[photo](http" not in raw[0] and "\\[photo\\]" in raw[0] and "\\*404\\*" in raw[0]


def test_a_queued_bubble_says_why_it_waits_and_until_when(app_as, demo_db):
    import datetime as dt

    from core import clock

    clock.freeze(dt.datetime(2027, 1, 13, 17, 0))  # Wednesday 12:00 PM in New York, Maria's zone
    cid, mid = demo_db.fetchone(
        "SELECT m.conversation_id, m.id FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id WHERE c.owner_id = ? AND m.direction = 'out' "
        "ORDER BY m.id DESC LIMIT 1",
        [uid(demo_db, "maria")],
    )
    demo_db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'queued', release_at = ?, queued_reason = 'business_hours' WHERE id = ?",
            [dt.datetime(2027, 1, 14, 13, 0), mid],
        )
    )
    at = app_as("maria", PAGE, {"id": cid})
    assert any(
        c.endswith("· 🕓 Queued — outside business hours, goes tomorrow at 8:00 AM") for c in texts(at, "caption")
    ), texts(at, "caption")


def test_interrupted_message_retries_in_one_click(app_as, demo_db):
    cid, mid = demo_db.fetchone(
        "SELECT m.conversation_id, m.id FROM messages m JOIN conversations c "
        "ON c.id = m.conversation_id JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND m.direction = 'out' AND NOT ct.opted_out "
        "ORDER BY m.id DESC LIMIT 1",
        [uid(demo_db, "maria")],
    )
    # As a send cut off by a stop leaves it (core.delivery), without the error of an earlier try: the
    # demo's latest message is sometimes one the simulator failed, and its 30005 would be shown.
    demo_db.write(
        lambda tx: tx.execute(
            "UPDATE messages SET status = 'interrupted', error_code = NULL, error_reason = NULL WHERE id = ?", [mid]
        )
    )
    at = app_as("maria", PAGE, {"id": cid})
    assert any("Interrupted — we don't know if it was sent" in c for c in texts(at, "caption"))
    at.button(key=f"retry_{mid}").click().run()
    assert demo_db.scalar("SELECT status FROM messages WHERE id = ?", [mid]) == "queued"
    assert demo_db.scalar("SELECT count(*) FROM outbox WHERE message_id = ? AND state = 'pending'", [mid]) == 1
    assert not any(f"retry_{mid}" == b.key for b in at.button)


@pytest.mark.parametrize("kind", ["image", "file"])
def test_media_inline_images_and_downloads(app_as, demo_db, kind):
    maria = uid(demo_db, "maria")
    like = "LIKE" if kind == "image" else "NOT LIKE"
    cid = demo_db.scalar(
        "SELECT m.conversation_id FROM media md JOIN messages m ON m.id = md.message_id JOIN conversations c "
        f"ON c.id = m.conversation_id WHERE c.owner_id = ? AND md.content_type {like} 'image/%' LIMIT 1",
        [maria],
    )
    media = demo_db.dicts(
        "SELECT md.filename, md.content_type FROM media md JOIN messages m ON m.id = md.message_id "
        "WHERE m.conversation_id = ? ORDER BY md.id",
        [cid],
    )
    at = app_as("maria", PAGE, {"id": cid})
    images = [m for m in media if m["content_type"].startswith("image/")]
    files = [m for m in media if not m["content_type"].startswith("image/")]
    assert len(at.get("image")) == len(images)
    downloads = at.get("download_button")
    assert len(downloads) == len(files)
    for button, item in zip(downloads, files):
        label = re.sub(r"\\(.)", r"\1", button.proto.label)
        assert item["filename"] in label and item["content_type"] in label


def test_mark_unread_sends_owner_back_unread(app_as, demo_db):
    from pages import navigate

    cid = an_unread_conversation(demo_db, "maria")
    at = app_as("maria", PAGE, {"id": cid})
    assert not unread_for_owner(demo_db, cid)
    at.button(key="mark_unread").click().run()
    assert unread_for_owner(demo_db, cid)
    # The browser is asked to open My Inbox (as a link would); until it has, a run of this page
    # (a timed refresh on its way) draws nothing and does not mark it read again.
    request = at.session_state[navigate.PENDING_KEY]
    assert (request.origin, request.href) == ("conversation", "inbox")
    at.run()
    assert unread_for_owner(demo_db, cid)
    assert not at.text_area and not at.subheader


def test_close_and_reopen(app_as, demo_db):
    cid = demo_db.scalar(
        "SELECT id FROM conversations WHERE owner_id = ? AND status = 'open' LIMIT 1", [uid(demo_db, "maria")]
    )
    at = app_as("maria", PAGE, {"id": cid})
    at.button(key="toggle_status").click().run()
    assert demo_db.scalar("SELECT status FROM conversations WHERE id = ?", [cid]) == "closed"
    assert at.button(key="toggle_status").label == "Reopen"
    at.button(key="toggle_status").click().run()
    assert demo_db.scalar("SELECT status FROM conversations WHERE id = ?", [cid]) == "open"


def test_supervisor_cannot_close_or_mark(app_as, demo_db):
    cid = demo_db.scalar("SELECT id FROM conversations WHERE owner_id = ? LIMIT 1", [uid(demo_db, "maria")])
    at = app_as("sam", PAGE, {"id": cid})
    keys = {b.key for b in at.button}
    assert "toggle_status" not in keys and "mark_unread" not in keys


def test_possible_opt_out_is_flagged(app_as, demo_db):
    cid, flag = demo_db.fetchone(
        "SELECT c.id, c.optout_flag FROM conversations c JOIN contacts ct "
        "ON ct.id = c.contact_id WHERE c.optout_flag IS NOT NULL AND NOT ct.opted_out "
        "ORDER BY c.id LIMIT 1"
    )
    owner = demo_db.scalar(
        "SELECT u.username FROM conversations c JOIN users u ON u.id = c.owner_id WHERE c.id = ?", [cid]
    )
    at = app_as(owner, PAGE, {"id": cid})
    assert f"Possible opt-out request: “{flag}”" in texts(at, "warning")


def test_message_bodies_are_plain_text(app_as, demo_db):
    from core.actions import messaging

    maria = demo_user(demo_db, "maria")
    cid = demo_db.scalar(
        "SELECT c.id FROM conversations c JOIN contacts ct ON ct.id = c.contact_id "
        "WHERE c.owner_id = ? AND NOT ct.opted_out AND c.channel = 'sms' LIMIT 1",
        [maria.id],
    )
    body = "**bold** <script>alert(1)</script> [link](http://x) :red[red]"
    messaging.do_send(demo_db, maria, cid, body)
    at = app_as("maria", PAGE, {"id": cid})
    assert body in texts(at, "text")
    assert not any("<script>" in m for m in texts(at, "markdown"))


def test_owner_confirms_a_flagged_opt_out(app_as, demo_db):
    cid, contact_id = demo_db.fetchone(
        "SELECT c.id, c.contact_id FROM conversations c JOIN contacts ct "
        "ON ct.id = c.contact_id WHERE c.optout_flag IS NOT NULL AND NOT ct.opted_out "
        "ORDER BY c.id LIMIT 1"
    )
    owner = demo_db.scalar(
        "SELECT u.username FROM conversations c JOIN users u ON u.id = c.owner_id WHERE c.id = ?", [cid]
    )
    at = app_as(owner, PAGE, {"id": cid})
    at.button(key="confirm_optout").click().run()
    assert not at.exception and not at.error
    assert demo_db.scalar("SELECT opted_out FROM contacts WHERE id = ?", [contact_id])
    assert not any("Possible opt-out" in w for w in texts(at, "warning"))


def test_a_received_file_named_by_its_media_id_downloads_under_a_descriptive_name(app_as, demo_runtime):
    import datetime as dt
    import secrets

    db = demo_runtime.db
    maria = uid(db, "maria")
    cid, contact, sender = db.fetchone(
        "SELECT id, contact_id, sender_id FROM conversations WHERE owner_id = ? ORDER BY id LIMIT 1", [maria]
    )
    received = dt.datetime(2026, 12, 4, 20, 32)  # 3:32 PM in New York, Maria's zone
    sha = demo_runtime.media.put(b"OggS" + b"\0" * 2000)

    def write(tx):
        mid = tx.scalar(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, body, status, "
            "provider_message_id, created_at, status_at, has_media) "
            "VALUES (?, ?, ?, 'in', '', 'received', 'SMvoice1', ?, ?, TRUE) RETURNING id",
            [cid, contact, sender, received, received],
        )
        tx.execute(
            "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
            "VALUES (?, ?, 'audio/ogg', 'ME0123456789abcdef0123456789abcdef', 2004, ?, ?)",
            [mid, sha, secrets.token_urlsafe(24), received],
        )

    db.write(write)
    at = app_as("maria", PAGE, {"id": cid})
    labels = [re.sub(r"\\(.)", r"\1", b.proto.label) for b in at.get("download_button")]
    assert "🎵 audio-2026-12-04-1532.ogg · audio/ogg · 2 KB" in labels
