"""In a real browser: a received file the provider named only by its media id is saved under a
name that says what it is and when it came (Streamlit's download serves ``file_name``, which
AppTest cannot see for a file produced on click)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from tests.e2e.scenario import PAGE_MS, demo_ids, downloaded, open_as, serve

PDF = b"%PDF-1.4\n% a consent form, as a patient's phone sends it\n%%EOF\n"
RECEIVED = dt.datetime(2026, 12, 4, 20, 32)  # 3:32 PM in New York, Maria's zone


@pytest.fixture(scope="module")
def parley(tmp_path_factory, demo_template):
    def prepare(db):
        from core.media_store import MediaStore
        from tests import factories as f

        ids = demo_ids(db)
        yara = f.add_contact(db, name="Yara Proof")
        conv = f.add_conversation(
            db, contact_id=yara, sender_id=ids["sender_sms"], owner_id=ids["user_maria"], inbound_body="Form attached"
        )
        message = f.add_message(
            db, conversation_id=conv, contact_id=yara, sender_id=ids["sender_sms"], direction="in", body="",
            has_media=True,
        )  # fmt: skip
        sha = MediaStore(Path(db.path).parent / "media").put(PDF)
        db.write(
            lambda tx: tx.execute(
                "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
                "VALUES (?, ?, 'application/pdf', 'ME0123456789abcdef0123456789abcdef', ?, 'tok-name', ?)",
                [message, sha, len(PDF), RECEIVED],
            )
        )
        return {"conv": conv, "maria_tz": db.scalar("SELECT timezone FROM users WHERE username = 'maria'")}

    with serve(tmp_path_factory, demo_template, prepare) as running:
        yield running


def test_a_file_named_by_its_media_id_is_saved_under_a_descriptive_name(parley, browser, tmp_path):
    assert parley.ids["maria_tz"] == "America/New_York"  # the name below is in her zone
    page = open_as(browser, parley.base, "maria", f"/conversation?id={parley.ids['conv']}")
    page.get_by_role("heading", name="Yara Proof").wait_for(timeout=PAGE_MS)
    button = page.get_by_role("button", name="document-2026-12-04-1532.pdf · application/pdf")
    button.wait_for(timeout=PAGE_MS)
    with page.expect_download(timeout=PAGE_MS) as download:
        button.click()
    assert download.value.suggested_filename == "document-2026-12-04-1532.pdf"
    saved = tmp_path / "saved.pdf"
    downloaded(download.value, saved)
    assert saved.read_bytes() == PDF
    page.context.close()
