"""Drafts: per user and conversation, kept in the database, refused to those who may not write."""

from __future__ import annotations

import pytest

from core import drafts
from core.errors import NotFound, PermissionDenied, ValidationError
from tests import factories as f


@pytest.fixture
def case(db, make_user):
    ana, ben = make_user("ana", display_name="Ana Ruiz"), make_user("ben", display_name="Ben Okafor")
    admin, sam = make_user("root", role="admin"), make_user("sam", role="supervisor")
    sms = f.add_sender(db)
    anas = f.add_conversation(db, contact_id=f.add_contact(db, name="Carla"), sender_id=sms, owner_id=ana.id)
    other = f.add_conversation(db, contact_id=f.add_contact(db, name="Dan"), sender_id=sms, owner_id=ana.id)
    return ana, ben, admin, sam, anas, other


def test_a_draft_is_kept_per_user_and_conversation(db, case):
    ana, _, admin, _, anas, other = case
    assert drafts.get_draft(db, ana, anas) == ""
    drafts.do_save_draft(db, ana, anas, "Hi Carla, about Thursday —")
    drafts.do_save_draft(db, ana, other, "Dan: ")
    drafts.do_save_draft(db, admin, anas, "Admin's own words")
    assert drafts.get_draft(db, ana, anas) == "Hi Carla, about Thursday —"
    assert drafts.get_draft(db, ana, str(other)) == "Dan: "
    assert drafts.get_draft(db, admin, anas) == "Admin's own words"
    drafts.do_save_draft(db, ana, anas, "Hi Carla, about Thursday: 10:00?")
    assert drafts.get_draft(db, ana, anas) == "Hi Carla, about Thursday: 10:00?"
    assert db.scalar("SELECT count(*) FROM drafts") == 3


def test_an_empty_draft_is_forgotten(db, case):
    ana, *_, anas, _ = case
    drafts.do_save_draft(db, ana, anas, "Something")
    drafts.do_save_draft(db, ana, anas, "  \n ")
    assert drafts.get_draft(db, ana, anas) == ""
    assert db.scalar("SELECT count(*) FROM drafts") == 0


def test_who_may_keep_a_draft(db, case):
    ana, ben, _, sam, anas, _ = case
    with pytest.raises(PermissionDenied):
        drafts.do_save_draft(db, ben, anas, "not my conversation")
    with pytest.raises(PermissionDenied) as refused:
        drafts.do_save_draft(db, sam, anas, "supervisors read")
    assert str(refused.value) == "Supervisors can read conversations but cannot send messages."
    with pytest.raises(NotFound):
        drafts.do_save_draft(db, ana, 999_999, "nowhere")
    with pytest.raises(ValidationError) as too_long:
        drafts.do_save_draft(db, ana, anas, "x" * 10_001)
    assert str(too_long.value) == "A draft can be at most 10,000 characters."
    assert db.scalar("SELECT count(*) FROM drafts") == 0
