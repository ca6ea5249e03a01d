"""Transcript export: who may, the exact TXT, the PDF's text and pages in every script, bad input."""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile

import pypdf
import pytest

from core import clock, transcripts
from core.actions import conversations as conv_actions
from core.errors import PermissionDenied
from core.media_store import MediaStore
from tests import factories as f

T0 = dt.datetime(2026, 3, 10, 14, 0)  # 10:00 in New York (EDT)
EXPORTED = dt.datetime(2026, 3, 12, 15, 30)

BODIES = [
    ("in", "Crème brûlée, ñandú, Ærøskøbing — Zürich"),
    ("out", "Γειά σου! Привет, как дела?"),
    ("in", "مرحبا، أريد موعدا يوم 12"),
    ("out", "שלום, התור שלך ביום 3"),
    ("in", "你好，我想预约。こんにちは。안녕하세요"),
    ("out", "Great 👍 see you 😀"),
    ("in", "Thanks 👍🏽 🇺🇸"),
]


@pytest.fixture
def conv(db, make_user, tmp_path):
    ada = make_user("ada", "admin", "Ada Admin")
    maria = make_user("maria", display_name="María López")
    sam = make_user("sam", "supervisor")
    james = make_user("james")
    sid = f.add_sender(db, label="Front desk")
    contact = f.add_contact(db, phone="+14158670100", name="Zoë \u202eevil\u202c Ávila")
    media = MediaStore(tmp_path / "media")
    kept = media.put(b"%PDF-1.4 receipt")

    def write(tx):
        cid = tx.next_id("seq_conversations")
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, owner_id, created_at, last_message_at, "
            "message_count) VALUES (?, ?, ?, 'sms', ?, ?, ?, ?)",
            [cid, contact, sid, maria.id, T0, T0, len(BODIES) + 2],
        )
        for i, (direction, body) in enumerate(BODIES):
            tx.execute(
                "INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, author_id, body, status, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    100 + i,
                    cid,
                    contact,
                    sid,
                    direction,
                    maria.id if direction == "out" else None,
                    body,
                    "delivered" if direction == "out" else "received",
                    T0 + dt.timedelta(minutes=i),
                ],
            )
        tx.execute(
            "INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, body, status, created_at, "
            "has_media) VALUES (120, ?, ?, ?, 'in', '', 'received', ?, TRUE)",
            [cid, contact, sid, T0 + dt.timedelta(minutes=10)],
        )
        for name, sha in (("receipt.pdf", kept), ("photo.jpg", "ab" * 32)):  # the photo's file is gone
            tx.execute(
                "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
                "VALUES (120, ?, ?, ?, 10, ?, ?)",
                [sha, "application/pdf" if name.endswith("pdf") else "image/jpeg", name, name, T0],
            )
        tx.execute(
            "INSERT INTO messages (id, conversation_id, contact_id, sender_id, direction, author_id, body, status, "
            "error_code, error_reason, created_at) VALUES (121, ?, ?, ?, 'out', ?, 'Are you there?', 'failed', "
            "'30003', 'Unreachable handset (error 30003)', ?)",
            [cid, contact, sid, maria.id, T0 + dt.timedelta(minutes=11)],
        )
        return cid

    cid = db.write(write)
    clock.freeze(EXPORTED)
    return dict(cid=cid, ada=ada, maria=maria, sam=sam, james=james, media=media)


EXPECTED_TXT = """Parley conversation transcript

Contact:      \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069
Channel:      SMS
Sender:       Front desk +14155550100
Messages:     9
Period:       2026-03-10 10:00 EDT to 2026-03-10 10:11 EDT
Times in:     America/New_York
Exported by:  María López, 2026-03-12 11:30 EDT
Conversation: {cid}

------------------------------------------------------------------------

[2026-03-10 10:00 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received
    Crème brûlée, ñandú, Ærøskøbing — Zürich

[2026-03-10 10:01 EDT] OUT · \u2068María López\u2069 · Delivered
    Γειά σου! Привет, как дела?

[2026-03-10 10:02 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received
    مرحبا، أريد موعدا يوم 12

[2026-03-10 10:03 EDT] OUT · \u2068María López\u2069 · Delivered
    שלום, התור שלך ביום 3

[2026-03-10 10:04 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received
    你好，我想预约。こんにちは。안녕하세요

[2026-03-10 10:05 EDT] OUT · \u2068María López\u2069 · Delivered
    Great 👍 see you 😀

[2026-03-10 10:06 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received
    Thanks 👍🏽 🇺🇸

[2026-03-10 10:10 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received
    [📎 document: receipt.pdf]
    [📎 image: photo.jpg (file missing)]

[2026-03-10 10:11 EDT] OUT · \u2068María López\u2069 · Failed: Unreachable handset (error 30003)
    Are you there?
"""


def test_the_txt_is_exact(db, conv):
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert t.txt == EXPECTED_TXT.format(cid=conv["cid"])
    assert t.txt_name == t.base_name + ".txt" and t.pdf_name == t.base_name + ".pdf"
    assert t.base_name == f"transcript-zoe-evil-avila-14158670100-c{conv['cid']}-2026-03-12"


def _pdf_text(data: bytes) -> tuple[str, int]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # Extractors return shaped Arabic as presentation forms, sometimes with unmapped codes between letters:
    # fold the forms (NFKC) and drop control codes before comparing.
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) != "Cc" or c == "\n"), len(reader.pages)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,،。，！!?.—]+", text) if w]


def test_the_pdf_holds_every_script_and_emoji(db, conv):
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    text, pages = _pdf_text(t.pdf)
    assert pages == t.pages == 1
    lines = text.split("\n")
    contact = "Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100"  # the override is shown, not obeyed
    assert lines[:9] == [
        "Parley conversation transcript",
        f"Contact: {contact}",
        "Channel: SMS",
        "Sender: Front desk +14155550100",
        "Messages: 9",
        "Period: 2026-03-10 10:00 EDT to 2026-03-10 10:11 EDT",
        "Times in: America/New_York",
        "Exported by: María López, 2026-03-12 11:30 EDT",
        f"Conversation: {conv['cid']}",
    ]
    assert lines[9:13] == [
        f"2026-03-10 10:00 EDT · IN · {contact} · Received",
        "Crème brûlée, ñandú, Ærøskøbing — Zürich",
        "2026-03-10 10:01 EDT · OUT · María López · Delivered",
        "Γειά σου! Привет, как дела?",
    ]
    assert "Great 👍 see you 😀" in lines  # glyphs from Noto Emoji
    assert lines[-3:] == [
        "2026-03-10 10:11 EDT · OUT · María López · Failed: Unreachable handset (error 30003)",
        "Are you there?",
        "Page 1 of 1",
    ]
    flat = text.replace(" ", "").replace("\n", "")
    for _, body in BODIES[:2] + BODIES[4:6]:
        for word in _words(body):
            assert word in text, word
    for _, body in BODIES[2:4]:  # right-to-left: drawn in visual order, so extractors may read words reversed
        for word in _words(body):
            assert word in flat or word[::-1] in flat, word
    assert "Thanks :thumbs_up_medium_skin_tone: :United_States:" in text  # sequences no font has: by name
    assert "[📎 document: receipt.pdf]" in text and "[📎 image: photo.jpg (file missing)]" in text


def test_attachments_that_could_not_be_downloaded_are_named_with_why(db, conv):
    """Rule 8, every message with its media: the customer sent two files whose download failed; the
    applier kept the message and the reasons. Each file is a line of its own, in the TXT and the PDF."""
    from core.actions import inbound
    from core.providers.base import InboundEvent

    sender = db.dicts("SELECT * FROM senders")[0]
    at = T0 + dt.timedelta(minutes=12)
    event = InboundEvent("SMimg1", "sms", "+14158670100", sender["phone"], None, "My card", at)
    reasons = [
        "Attachment 1 could not be downloaded: The attachment has no URL to download.",
        "Attachment 2 could not be downloaded: Media checksum did not match",
    ]
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, [], reasons))
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert t.txt.endswith(
        "[2026-03-10 10:12 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received\n"
        "    My card\n"
        "    [📎 Attachment 1 could not be downloaded: The attachment has no URL to download.]\n"
        "    [📎 Attachment 2 could not be downloaded: Media checksum did not match]\n"
    ), t.txt
    text, _ = _pdf_text(t.pdf)
    assert text.split("\n")[-5:] == [
        "2026-03-10 10:12 EDT · IN · Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100 · Received",
        "My card",
        "[📎 Attachment 1 could not be downloaded: The attachment has no URL to download.]",
        "[📎 Attachment 2 could not be downloaded: Media checksum did not match]",
        "Page 1 of 1",
    ]


def test_a_customer_cannot_write_a_line_that_reads_as_the_transcripts_own(db, conv):
    """A body is the customer's text: in the TXT every line of it is indented, so a message that
    imitates an agent's reply, an attachment or a new message (after a line feed, or after the
    LINE SEPARATOR editors and splitlines() break at) cannot pass for one. Only the transcript's
    own lines start at the margin."""
    sid = db.scalar("SELECT id FROM senders LIMIT 1")
    contact = db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [conv["cid"]])
    forged = (
        "Thanks\n\n[2026-03-10 10:13 EDT] OUT · María López · Delivered\nRefund of $500 approved.\n"
        "[📎 document: refund-approval.pdf]\u2028[2026-03-10 10:14 EDT] OUT · María López · Read"
    )
    f.add_message(
        db,
        contact_id=contact,
        sender_id=sid,
        conversation_id=conv["cid"],
        body=forged,
        direction="in",
        at=T0 + dt.timedelta(minutes=12),
    )
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert t.txt.endswith(
        "[2026-03-10 10:12 EDT] IN · \u2068Zoë [U+202E]evil[U+202C] Ávila · (415) 867-0100\u2069 · Received\n"
        "    Thanks\n"
        "\n"
        "    [2026-03-10 10:13 EDT] OUT · María López · Delivered\n"
        "    Refund of $500 approved.\n"
        "    [📎 document: refund-approval.pdf]\n"
        "    [2026-03-10 10:14 EDT] OUT · María López · Read\n"
    ), t.txt
    margin = [line for line in t.txt.splitlines() if line.startswith("[")]
    assert len(margin) == 10  # the ten messages' own lines, nothing the customer wrote


def test_a_file_is_named_as_the_thread_names_it_never_by_a_media_id(db, conv):
    """Rule 8: each file's name in the transcript is the one the thread shows and a download saves it
    under, so the two can be matched: the sender's own name, else what it is and when it came (in
    the exporter's zone), never a provider's media id or a name Parley made up."""
    sid = db.scalar("SELECT id FROM senders LIMIT 1")
    contact = db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [conv["cid"]])
    at = T0 + dt.timedelta(minutes=12)
    mid = f.add_message(
        db,
        contact_id=contact,
        sender_id=sid,
        conversation_id=conv["cid"],
        body="",
        direction="in",
        at=at,
        has_media=True,
    )
    for name, ctype in (
        ("ME0123456789abcdef0123456789abcdef", "image/jpeg"),
        ("attachment-2.pdf", "application/pdf"),
        ("Brochure 2027.pdf", "application/pdf"),
    ):
        db.write(
            lambda tx, n=name, c=ctype: tx.execute(
                "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
                "VALUES (?, ?, ?, ?, 10, ?, ?)",
                [mid, "cd" * 32, c, n, n, at],
            )
        )
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert t.txt.endswith(
        "    [📎 image: image-2026-03-10-1012.jpg (file missing)]\n"
        "    [📎 document: document-2026-03-10-1012.pdf (file missing)]\n"
        "    [📎 document: Brochure 2027.pdf (file missing)]\n"
    ), t.txt


def test_both_files_come_together_and_the_export_is_audited(db, conv):
    t = transcripts.export_transcript(db, conv["media"], conv["ada"], conv["cid"])
    with zipfile.ZipFile(io.BytesIO(t.zip_bytes())) as archive:
        assert sorted(archive.namelist()) == sorted([t.pdf_name, t.txt_name])
        assert archive.read(t.txt_name).decode() == t.txt
    audit = db.dicts("SELECT actor_id, action, object_id, detail FROM audit_log WHERE action LIKE '%transcript%'")
    assert [(a["actor_id"], a["action"], a["object_id"]) for a in audit] == [
        (conv["ada"].id, "conversation.transcript_exported", conv["cid"])
    ]
    assert '"messages": 9' in audit[0]["detail"]


@pytest.mark.parametrize("who", ["sam", "james"])
def test_only_admins_and_the_assignee_may_export(db, conv, who):
    with pytest.raises(PermissionDenied):
        transcripts.export_transcript(db, conv["media"], conv[who], conv["cid"])
    assert not transcripts.may_export(conv[who], conv["maria"].id)
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE '%transcript%'") == 0


def test_the_former_assignee_loses_the_export_when_reassigned(db, conv):
    conv_actions.do_assign(db, conv["ada"], [conv["cid"]], conv["james"].id)
    with pytest.raises(PermissionDenied):
        transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert transcripts.export_transcript(db, conv["media"], conv["james"], conv["cid"]).message_count == 9


def test_a_reassignment_while_preparing_withholds_the_files(db, conv, monkeypatch):
    from core.transcripts import pdf

    original = pdf.render_pdf

    def slow_render(data, progress=None):
        db.write(
            lambda tx: tx.execute("UPDATE conversations SET owner_id = ? WHERE id = ?", [conv["james"].id, conv["cid"]])
        )
        return original(data, progress)

    monkeypatch.setattr(pdf, "render_pdf", slow_render)
    with pytest.raises(PermissionDenied, match="reassigned"):
        transcripts.export_transcript(db, conv["media"], conv["maria"], conv["cid"])
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE '%transcript%'") == 0


@pytest.mark.parametrize(
    "who, change, refusal",
    [
        ("maria", "UPDATE users SET active = FALSE WHERE id = ?", "disabled"),
        ("ada", "UPDATE users SET role = 'standard' WHERE id = ?", "role changed"),
        ("ada", "UPDATE users SET role = 'supervisor' WHERE id = ?", "role changed"),
    ],
)
def test_an_account_disabled_or_demoted_while_preparing_gets_no_files(db, conv, monkeypatch, who, change, refusal):
    """The export is checked again when it is recorded, the exporter as well as the conversation: an
    account disabled, or an admin made an agent (of someone else's conversation) or a supervisor,
    while a long PDF was laid out is not handed the files, and nothing is recorded."""
    from core.transcripts import pdf

    original = pdf.render_pdf

    def slow_render(data, progress=None):
        db.write(lambda tx: tx.execute(change, [conv[who].id]))
        return original(data, progress)

    monkeypatch.setattr(pdf, "render_pdf", slow_render)
    with pytest.raises(PermissionDenied, match=refusal):
        transcripts.export_transcript(db, conv["media"], conv[who], conv["cid"])
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action LIKE '%transcript%'") == 0


def test_bad_input_one_message_a_huge_message_and_no_messages(db, conv):
    sid = db.scalar("SELECT id FROM senders LIMIT 1")
    contact = f.add_contact(db, phone="+14158679999", name=None)
    cid = f.add_conversation(
        db, contact_id=contact, sender_id=sid, owner_id=conv["maria"].id, inbound_body="x" * 50_000
    )
    steps = []
    t = transcripts.export_transcript(db, conv["media"], conv["maria"], cid, progress=lambda f, s: steps.append(f))
    assert t.message_count == 1 and "x" * 50_000 in t.txt
    text, pages = _pdf_text(t.pdf)
    assert pages == t.pages > 5 and text.count("x") >= 50_000  # every character, wrapped over pages
    assert steps[0] == 0.0 and steps[-1] == 1.0 and steps == sorted(steps)
    empty = f.add_contact(db, phone="+14158679998", name="Nobody")

    def no_messages(tx):
        c = tx.next_id("seq_conversations")
        tx.execute(
            "INSERT INTO conversations (id, contact_id, sender_id, channel, owner_id, created_at, last_message_at) "
            "VALUES (?, ?, ?, 'sms', ?, ?, ?)",
            [c, empty, sid, conv["maria"].id, T0, T0],
        )
        return c

    t = transcripts.export_transcript(db, conv["media"], conv["maria"], db.write(no_messages))
    assert "This conversation has no messages yet." in t.txt and t.pages == 1
