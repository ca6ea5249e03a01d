"""In a real browser: the assignee prepares a transcript and downloads the PDF and the TXT."""

from __future__ import annotations

import re

import pypdf

from tests.e2e.conftest import sign_in
from tests.e2e.scenario import downloaded


def test_the_assignee_downloads_both_transcript_files(parley, page, tmp_path):
    base, _work, ids = parley
    cid = ids["maria_sms"]
    name = ids["maria_sms_conversations"][0][3]
    sign_in(page, base, "maria")
    page.goto(f"{base}/conversation?id={cid}")
    page.get_by_text("Export transcript").click()
    page.get_by_role("button", name="Prepare PDF and TXT").click()
    pdf_button = page.get_by_role("button", name="PDF", exact=True)
    pdf_button.wait_for(timeout=60_000)  # prepared (a progress bar shows meanwhile)

    with page.expect_download(timeout=30_000) as pdf_download:
        pdf_button.click()
    with page.expect_download(timeout=30_000) as txt_download:
        page.get_by_role("button", name="TXT", exact=True).click()

    pdf_path, txt_path = tmp_path / "t.pdf", tmp_path / "t.txt"
    downloaded(pdf_download.value, pdf_path)
    downloaded(txt_download.value, txt_path)
    assert re.fullmatch(
        rf"transcript-[a-z0-9-]+-c{cid}-\d{{4}}-\d{{2}}-\d{{2}}\.pdf", pdf_download.value.suggested_filename
    )
    assert txt_download.value.suggested_filename == pdf_download.value.suggested_filename[:-4] + ".txt"
    text = txt_path.read_text(encoding="utf-8")
    assert text.startswith("Parley conversation transcript\n") and name in text
    assert f"Conversation: {cid}" in text
    reader = pypdf.PdfReader(str(pdf_path))
    first = reader.pages[0].extract_text()
    assert "Parley conversation transcript" in first and f"Conversation: {cid}" in first
