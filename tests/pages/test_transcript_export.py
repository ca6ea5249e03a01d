"""The transcript control on the Conversation page: offered to admins and the assignee only."""

from __future__ import annotations

import pytest

from tests.conftest import demo_user

PAGE = "pages/conversation.py"


def a_conversation_of(db, username) -> int:
    return db.scalar(
        "SELECT id FROM conversations WHERE owner_id = ? ORDER BY message_count DESC, id LIMIT 1",
        [demo_user(db, username).id],
    )


def popovers(at) -> list[str]:
    """The labels of the page's popovers (the transcript sits in one, in the header)."""
    return [str(b.proto.popover.label) for b in at.get("popover")]


@pytest.mark.parametrize("username", ["maria", "admin"])
def test_the_assignee_and_admins_prepare_both_files(app_as, demo_db, username):
    cid = a_conversation_of(demo_db, "maria")
    at = app_as(username, PAGE, {"id": cid})
    assert not at.exception
    assert "Export transcript" in popovers(at)
    at.button(key=f"prepare_{cid}").click().run()
    assert not at.exception and not at.error
    labels = {str(b.proto.label): b.proto for b in at.get("download_button")}
    assert {"PDF", "TXT", "Both (.zip)"} <= set(labels)
    count = demo_db.scalar("SELECT count(*) FROM messages WHERE conversation_id = ?", [cid])
    assert any(f"{count} messages" in str(c.value) for c in at.caption)
    audit = demo_db.scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'conversation.transcript_exported' AND object_id = ? "
        "AND actor_id = ?",
        [cid, demo_user(demo_db, username).id],
    )
    assert audit == 1


@pytest.mark.parametrize("username", ["sam", "james"])
def test_supervisors_and_other_agents_get_no_export(app_as, demo_db, username):
    cid = a_conversation_of(demo_db, "maria")
    at = app_as(username, PAGE, {"id": cid})
    assert not at.exception
    assert "Export transcript" not in popovers(at)


def test_one_message_on_one_page_is_counted_in_the_singular(app_as, demo_db):
    from tests import factories as f

    maria = demo_user(demo_db, "maria").id
    sms = demo_db.scalar("SELECT id FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    cid = f.add_conversation(demo_db, contact_id=f.add_contact(demo_db, name="Una"), sender_id=sms, owner_id=maria)
    at = app_as("maria", PAGE, {"id": cid})
    at.button(key=f"prepare_{cid}").click().run()
    assert not at.exception and not at.error
    assert "1 message, 1 PDF page." in [str(c.value) for c in at.caption]


def test_the_zip_is_made_when_it_is_downloaded_not_on_every_run(app_as, demo_db, monkeypatch):
    """Both files zipped (DEFLATE over a PDF of megabytes for a long conversation) on every run of
    the page once a transcript was prepared: each click anywhere on the page paid for it again."""
    from core import transcripts

    zipped = []
    real = transcripts.Transcript.zip_bytes
    monkeypatch.setattr(transcripts.Transcript, "zip_bytes", lambda self: zipped.append(1) or real(self))
    cid = a_conversation_of(demo_db, "maria")
    at = app_as("maria", PAGE, {"id": cid})
    at.button(key=f"prepare_{cid}").click().run()
    at.run()
    at.run()
    assert not at.exception and not at.error
    assert "Both (.zip)" in [str(b.proto.label) for b in at.get("download_button")]
    assert zipped == []


def test_a_session_keeps_only_the_transcript_it_prepared_last(app_as, demo_db):
    first, second = [
        r[0]
        for r in demo_db.fetchall(
            "SELECT id FROM conversations WHERE owner_id = ? ORDER BY id LIMIT 2", [demo_user(demo_db, "maria").id]
        )
    ]
    at = app_as("maria", PAGE, {"id": first})
    at.button(key=f"prepare_{first}").click().run()
    at.query_params["id"] = str(second)
    at.run()
    at.button(key=f"prepare_{second}").click().run()
    assert not at.exception and not at.error
    assert (f"transcript.{first}" in at.session_state, f"transcript.{second}" in at.session_state) == (False, True)
