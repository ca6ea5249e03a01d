"""Reading an attachment from the thread: a download button drawn earlier is clicked later.

Streamlit keeps the button's callable and runs it on the click, outside any page run, so the
session the page had when it drew the button is checked again then: a tab whose session ended
(signed out here or everywhere, account disabled), or whose role changed, gets nothing more."""

from __future__ import annotations

import types

import pytest

from core import media_access, sessions
from core.actions import user_admin
from core.errors import PermissionDenied
from core.media_store import MediaStore
from tests import factories as f

KEY = b"media-access-secret"
PICTURE = b"\x89PNG\r\n\x1a\n" + b"2" * 64


@pytest.fixture
def ws(db, make_user, tmp_path):
    ada = make_user("ada", "admin")
    bo = make_user("bo", "admin")
    maria = make_user("maria")
    sender = f.add_sender(db)
    conv = f.add_conversation(db, contact_id=f.add_contact(db), sender_id=sender, owner_id=maria.id)
    rt = types.SimpleNamespace(db=db, media=MediaStore(tmp_path / "media"))
    sha = rt.media.put(PICTURE)
    mid = f.add_message(rt.db, contact_id=1, sender_id=sender, conversation_id=conv, body="", has_media=True)
    media_id = db.scalar(
        "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) "
        "VALUES (?, ?, 'image/png', 'x-ray.png', ?, 'tok', now()) RETURNING id",
        [mid, sha, len(PICTURE)],
    )
    return dict(rt=rt, ada=ada, bo=bo, maria=maria, media_id=media_id)


def test_a_live_session_downloads_the_file(db, ws):
    session = sessions.start(db, ws["maria"].id, KEY).session_id
    assert media_access.read_media_for_session(ws["rt"], session, ws["media_id"]) == (
        PICTURE,
        "image/png",
        "x-ray.png",
    )


def test_a_session_that_ended_downloads_nothing(db, ws):
    session = sessions.start(db, ws["maria"].id, KEY).session_id
    sessions.end(db, session)
    with pytest.raises(PermissionDenied, match="session has ended"):
        media_access.read_media_for_session(ws["rt"], session, ws["media_id"])


def test_a_disabled_account_downloads_nothing(db, ws):
    session = sessions.start(db, ws["ada"].id, KEY).session_id
    user_admin.do_disable_user(db, ws["bo"], ws["ada"].id)
    with pytest.raises(PermissionDenied, match="session has ended"):
        media_access.read_media_for_session(ws["rt"], session, ws["media_id"])


def test_an_admin_made_an_agent_reads_only_their_own_conversations_files(db, ws):
    session = sessions.start(db, ws["ada"].id, KEY).session_id
    assert media_access.read_media_for_session(ws["rt"], session, ws["media_id"])[0] == PICTURE
    user_admin.do_change_role(db, ws["bo"], ws["ada"].id, "standard")
    with pytest.raises(PermissionDenied, match="assigned to someone else"):
        media_access.read_media_for_session(ws["rt"], session, ws["media_id"])


def test_no_session_at_all_downloads_nothing(db, ws):
    with pytest.raises(PermissionDenied, match="session has ended"):
        media_access.read_media_for_session(ws["rt"], None, ws["media_id"])
