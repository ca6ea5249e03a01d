"""Scenario 6: the assignee downloads the transcript; another agent has no way to it.

Maria's conversation with Xena holds three messages at known times: Xena's
question, Maria's reply (delivered), and an X-ray image Maria sent. Maria
prepares and downloads the PDF and the TXT: both list every message with its
time (in Maria's zone, New York), direction, sender and status, and the
image as 📎 with its type and file name.

James, another agent, opens the same address and gets one sentence and no
transcript control; nor does he get it through the conversation's other
addresses (a page path with the id, the Team Inbox address).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pypdf
import pytest
from playwright.sync_api import expect

from tests.e2e.scenario import PAGE_MS, demo_ids, downloaded, open_as, serve, wait_for_text

ASKED = dt.datetime(2026, 11, 2, 14, 5)  # naive UTC: 9:05 AM in New York
XENA_PHONE = "+14158670991"


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from core.media_store import MediaStore
        from tests import factories as f

        ids = demo_ids(db)
        maria = ids["user_maria"]
        xena = f.add_contact(db, name="Xena Proof", phone=XENA_PHONE)
        conv = f.add_conversation(
            db,
            contact_id=xena,
            sender_id=ids["sender_sms"],
            owner_id=maria,
            last_inbound_at=ASKED,
            inbound_body="Hi, can I get a copy of my x-ray?",
        )
        f.add_message(
            db,
            conversation_id=conv,
            contact_id=xena,
            sender_id=ids["sender_sms"],
            author_id=maria,
            body="Of course, here it is 🦷",
            status="delivered",
            at=ASKED + dt.timedelta(minutes=2),
        )
        image = f.add_message(
            db,
            conversation_id=conv,
            contact_id=xena,
            sender_id=ids["sender_sms"],
            author_id=maria,
            body="",
            status="delivered",
            at=ASKED + dt.timedelta(minutes=3),
            has_media=True,
        )
        sha = MediaStore(parley_media(db)).put(b"\x89PNG\r\n\x1a\n fake x-ray bytes")
        db.write(
            lambda tx: tx.execute(
                "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
                "VALUES (?, ?, 'image/png', 'xray-2026.png', 28, 'tok-scenario-6', ?)",
                [image, sha, ASKED],
            )
        )
        return {"conv": conv}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def parley_media(db) -> Path:
    return Path(db.path).parent / "media"


def test_the_assignee_downloads_pdf_and_txt_with_every_message(parley, browser, tmp_path):
    cid = parley.ids["conv"]
    page = open_as(browser, parley.base, "maria", f"/conversation?id={cid}")
    page.get_by_role("heading", name="Xena Proof").wait_for(timeout=PAGE_MS)
    page.get_by_text("Export transcript").click()
    page.get_by_role("button", name="Prepare PDF and TXT").click()
    pdf_button = page.get_by_role("button", name="PDF", exact=True)
    pdf_button.wait_for(timeout=PAGE_MS)
    expect(page.get_by_text("3 messages, 1 PDF page.")).to_be_visible()
    with page.expect_download(timeout=PAGE_MS) as pdf_download:
        pdf_button.click()
    with page.expect_download(timeout=PAGE_MS) as txt_download:
        page.get_by_role("button", name="TXT", exact=True).click()

    today = dt.datetime.now(dt.UTC)
    stem = f"transcript-xena-proof-14158670991-c{cid}-"
    assert re.fullmatch(re.escape(stem) + r"\d{4}-\d{2}-\d{2}\.pdf", pdf_download.value.suggested_filename)
    assert pdf_download.value.suggested_filename[len(stem) : len(stem) + 10] in (
        f"{today:%Y-%m-%d}",
        f"{today - dt.timedelta(days=1):%Y-%m-%d}",  # the exporter's zone is behind UTC
    )
    assert txt_download.value.suggested_filename == pdf_download.value.suggested_filename[:-4] + ".txt"
    txt_path, pdf_path = tmp_path / "t.txt", tmp_path / "t.pdf"
    downloaded(txt_download.value, txt_path)
    downloaded(pdf_download.value, pdf_path)

    text = txt_path.read_text(encoding="utf-8")
    fsi, pdi = "\u2068", "\u2069"
    for line in (
        "Parley conversation transcript",
        f"Contact:      {fsi}Xena Proof · (415) 867-0991{pdi}",
        "Messages:     3",
        "Times in:     America/New_York",
        f"Conversation: {cid}",
        f"[2026-11-02 09:05 EST] IN · {fsi}Xena Proof · (415) 867-0991{pdi} · Received",
        "    Hi, can I get a copy of my x-ray?",  # a message's lines are indented under it
        f"[2026-11-02 09:07 EST] OUT · {fsi}María López{pdi} · Delivered",
        "    Of course, here it is 🦷",
        f"[2026-11-02 09:08 EST] OUT · {fsi}María López{pdi} · Delivered",
        "    [📎 image: xray-2026.png]",
    ):
        assert line in text.splitlines(), (line, text)

    pdf = "\n".join(p.extract_text() for p in pypdf.PdfReader(str(pdf_path)).pages)
    for words in (
        "Parley conversation transcript",
        f"Conversation: {cid}",
        "2026-11-02 09:05 EST",
        "Hi, can I get a copy of my x-ray?",
        "2026-11-02 09:07 EST",
        "xray-2026.png",
    ):
        assert words in pdf, (words, pdf)
    page.context.close()


def test_another_agent_has_no_way_to_the_transcript(parley, browser):
    cid = parley.ids["conv"]
    refusal = f"Conversation {cid} is assigned to someone else; you can open only the conversations in your inbox."
    page = open_as(browser, parley.base, "james", f"/conversation?id={cid}")
    for path in (f"/conversation?id={cid}", f"/inbox?id={cid}", f"/team?id={cid}", f"/conversation?id={cid}%20"):
        page.goto(parley.base + path)
        page.get_by_role("heading").or_(page.get_by_test_id("stAlert")).first.wait_for(timeout=PAGE_MS)
        if path.startswith("/conversation"):
            wait_for_text(page, refusal)
        page.wait_for_load_state("networkidle")
        expect(page.get_by_text("Export transcript")).to_have_count(0)
        expect(page.get_by_role("button", name="Prepare PDF and TXT")).to_have_count(0)
        expect(page.get_by_text("Hi, can I get a copy of my x-ray?")).to_have_count(0)
    page.context.close()
