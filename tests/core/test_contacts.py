"""The contacts manager in core: saving, one contact per number, search, detail, archive, delete, roles."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, contacts
from core.actions import contacts as contact_actions
from core.actions import suppression
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from tests.factories import add_contact, add_conversation, add_sender


@pytest.fixture
def ana(make_user):
    return make_user("ana", "standard")


@pytest.fixture
def ben(make_user):
    return make_user("ben", "standard")


@pytest.fixture
def admin(make_user):
    return make_user("boss", "admin")


@pytest.fixture
def sam(make_user):
    return make_user("sam", "supervisor")


def row(db, contact_id):
    return db.dicts("SELECT * FROM contacts WHERE id = ?", [contact_id])[0]


def events(db, name):
    return db.fetchall("SELECT payload FROM events WHERE name = ? ORDER BY id", [name])


# ---- create ---------------------------------------------------------------------------------


def test_create_stores_e164_and_search_columns(db, ana):
    cid = contact_actions.do_create_contact(
        db,
        ana,
        phone="(415) 867-0123",
        name="  José   Núñez ",
        email="jose@example.com",
        tags="vip, VIP ,kids,",
        notes="Prefers mornings.",
        timezone="europe/madrid",
    )
    r = row(db, cid)
    assert r["phone"] == "+14158670123"
    assert r["name"] == "José Núñez"
    assert r["search_name"] == "jose nunez"
    assert r["phone_digits"] == "14158670123"
    assert r["tags"] == "vip, kids"
    assert r["timezone"] == "Europe/Madrid"
    assert len(events(db, "contact.created")) == 1


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("phone", "12", "not a valid phone number"),
        ("phone", "", "Enter a phone number"),
        ("email", "jose@", "not an email address"),
        ("email", "two words@example.com", "not an email address"),
        ("timezone", "Mars/Olympus", "not a time zone"),
        ("name", "x" * 500, "at most 120 characters"),
        ("tags", "t" * 60, "at most 40 characters"),
    ],
)
def test_create_refuses_bad_fields_with_one_sentence(db, ana, field, value, words):
    values = {"phone": "+14158670123", field: value}
    with pytest.raises(ValidationError) as info:
        contact_actions.do_create_contact(db, ana, **values)
    message = str(info.value)
    assert words in message
    assert message.endswith(".") and "\n" not in message
    assert db.scalar("SELECT count(*) FROM contacts") == 0


def test_one_contact_per_number_names_the_existing_one(db, ana):
    first = contact_actions.do_create_contact(db, ana, phone="+1 415 867 0123", name="María López")
    with pytest.raises(contacts.DuplicateContact) as info:
        contact_actions.do_create_contact(db, ana, phone="415.867.0123", name="Someone else")
    assert info.value.contact_id == first
    assert "María López" in str(info.value)
    assert isinstance(info.value, Conflict)
    assert db.scalar("SELECT count(*) FROM contacts") == 1


def test_duplicate_of_an_archived_or_nameless_contact_says_so(db, ana):
    nameless = add_contact(db, phone="+14158670150")
    with pytest.raises(contacts.DuplicateContact, match="no name yet") as info:
        contact_actions.do_create_contact(db, ana, phone="4158670150")
    assert info.value.contact_id == nameless
    archived = contact_actions.do_create_contact(db, ana, phone="4158670151", name="Old Friend")
    contact_actions.do_archive_contact(db, ana, archived)
    with pytest.raises(contacts.DuplicateContact, match="archived") as info:
        contact_actions.do_create_contact(db, ana, phone="+14158670151")
    assert info.value.contact_id == archived


# ---- roles ------------------------------------------------------------------------------------


def test_agents_and_admins_save_supervisors_only_read(db, ana, admin, sam):
    mine = contact_actions.do_create_contact(db, ana, phone="+14158670200", name="By agent")
    contact_actions.do_create_contact(db, admin, phone="+14158670201", name="By admin")
    with pytest.raises(PermissionDenied, match="Supervisors"):
        contact_actions.do_create_contact(db, sam, phone="+14158670202")
    with pytest.raises(PermissionDenied):
        contact_actions.do_update_contact(db, sam, mine, name="Changed")
    with pytest.raises(PermissionDenied):
        contact_actions.do_archive_contact(db, sam, mine)
    assert contacts.list_contacts(db, sam).total == 2
    assert contacts.contact_detail(db, sam, mine)["can_edit"] is False
    assert row(db, mine)["name"] == "By agent"


# ---- update ------------------------------------------------------------------------------------


def test_update_keeps_search_columns_current(db, ana):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670300", name="Old Name")
    clock.freeze(clock.utcnow() + dt.timedelta(seconds=5))
    changed = contact_actions.do_update_contact(db, ana, cid, name="Zoë Ångström", phone="(415) 867-0301", email="")
    assert changed == ["name", "phone"]
    r = row(db, cid)
    assert (r["search_name"], r["phone_digits"], r["phone"]) == ("zoe angstrom", "14158670301", "+14158670301")
    assert r["updated_at"] > r["created_at"]
    assert contacts.list_contacts(db, ana, search="ANGSTR").rows[0]["id"] == cid
    assert contacts.list_contacts(db, ana, search="old name").total == 0
    assert len(events(db, "contact.updated")) == 1


def test_update_without_change_publishes_nothing(db, ana):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670310", name="Same")
    assert contact_actions.do_update_contact(db, ana, cid, name=" Same ", phone="4158670310") == []
    assert events(db, "contact.updated") == []


def test_update_to_a_number_taken_is_refused_with_the_other_contact(db, ana):
    other = contact_actions.do_create_contact(db, ana, phone="+14158670320", name="Taken")
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670321", name="Mover")
    with pytest.raises(contacts.DuplicateContact) as info:
        contact_actions.do_update_contact(db, ana, cid, phone="415 867 0320")
    assert info.value.contact_id == other and "Taken" in str(info.value)


def test_number_with_message_history_cannot_change(db, ana):
    sender = add_sender(db)
    cid = add_contact(db, name="Has History")
    add_conversation(db, contact_id=cid, sender_id=sender, owner_id=ana.id)
    with pytest.raises(ValidationError, match="message history"):
        contact_actions.do_update_contact(db, ana, cid, phone="+14158670399")
    assert contact_actions.do_update_contact(db, ana, cid, name="Renamed") == ["name"]
    assert contact_actions.phone_locked(db, cid)


def test_an_opted_out_number_cannot_move_to_another_number(db, ana, admin):
    # Added to the opt-out list by hand (no message ever): the contact holds only the opt-out. Changing
    # its number would unsuppress +14158670340 and suppress a number that never asked.
    cid = suppression.do_add_opt_out(db, admin, "+14158670340", "Asked by phone not to be texted")
    with pytest.raises(ValidationError, match="opt-out on record"):
        contact_actions.do_update_contact(db, ana, cid, phone="+14158670341")
    assert row(db, cid)["phone"] == "+14158670340" and row(db, cid)["opted_out"]
    assert contact_actions.phone_locked(db, cid)
    assert contacts.contact_detail(db, ana, cid)["can_change_phone"] is False


def test_a_number_once_opted_out_and_back_in_keeps_its_history(db, ana, admin):
    cid = suppression.do_add_opt_out(db, admin, "+14158670342", "Asked by phone")
    suppression.do_remove_opt_out(db, admin, cid, "Asked in writing to be texted again")
    with pytest.raises(ValidationError, match="opt-out on record"):
        contact_actions.do_update_contact(db, ana, cid, phone="+14158670343")
    assert row(db, cid)["phone"] == "+14158670342"


def test_stale_form_does_not_overwrite_a_newer_save(db, ana, ben):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670330", name="First")
    version = contacts.get_contact(db, ana, cid)["updated_at"]
    clock.freeze(clock.utcnow() + dt.timedelta(seconds=5))
    contact_actions.do_update_contact(db, ben, cid, expected_updated_at=version, name="Ben's")
    with pytest.raises(Conflict, match="while you were editing"):
        contact_actions.do_update_contact(db, ana, cid, expected_updated_at=version, name="Ana's")
    assert row(db, cid)["name"] == "Ben's"


def test_unknown_contact_and_bad_ids_are_one_sentence(db, ana):
    with pytest.raises(NotFound, match="There is no contact 999"):
        contacts.contact_detail(db, ana, 999)
    with pytest.raises(NotFound, match="is not a contact number"):
        contacts.contact_detail(db, ana, "abc")
    with pytest.raises(NotFound):
        contact_actions.do_update_contact(db, ana, 999, name="x")


# ---- list, search, paging ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    ["+1 555 010 0123", "(555) 010-0123", "5550100123", "0100123", "555-010-0123", "+15550100123", "1 555 010 0123"],
)
def test_numbers_typed_any_way_find_the_contact(db, ana, typed):
    cid = add_contact(db, phone="+15550100123", name="Fictional")
    add_contact(db, phone="+14158670123", name="Other")
    page = contacts.list_contacts(db, ana, search=typed)
    assert [r["id"] for r in page.rows] == [cid]


@pytest.mark.parametrize("typed", ["jose", "NÚÑEZ", "sé nu", "ose", "  jose   nunez "])
def test_names_match_any_part_any_case_without_accents(db, ana, typed):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670400", name="José Núñez")
    contact_actions.do_create_contact(db, ana, phone="+14158670401", name="Maria Lopez")
    assert [r["id"] for r in contacts.list_contacts(db, ana, search=typed).rows] == [cid]


@pytest.mark.parametrize("typed", ["%", "_", "'", ".*", "%_%", "a%", "' OR 1=1 --", "\\", "[a-z]"])
def test_search_text_is_literal(db, ana, typed):
    contact_actions.do_create_contact(db, ana, phone="+14158670410", name="Plain Person")
    contact_actions.do_create_contact(db, ana, phone="+14158670411", name="Ann O'Hara")
    page = contacts.list_contacts(db, ana, search=typed)
    names = [r["name"] for r in page.rows]
    if typed == "'":
        assert names == ["Ann O'Hara"]
    else:
        assert names == []


def test_active_archived_all_and_order(db, ana):
    b = contact_actions.do_create_contact(db, ana, phone="+14158670501", name="Bruno")
    a = contact_actions.do_create_contact(db, ana, phone="+14158670502", name="Álvaro")
    nameless = add_contact(db, phone="+14158670503")
    contact_actions.do_archive_contact(db, ana, b)
    assert [r["id"] for r in contacts.list_contacts(db, ana).rows] == [a, nameless]
    assert [r["id"] for r in contacts.list_contacts(db, ana, archived="archived").rows] == [b]
    assert [r["id"] for r in contacts.list_contacts(db, ana, archived="all").rows] == [a, b, nameless]
    assert contact_actions.do_archive_contact(db, ana, b) is False
    assert contact_actions.do_unarchive_contact(db, ana, b) is True
    assert contacts.list_contacts(db, ana).total == 3
    assert len(events(db, "contact.archived")) == 1
    assert len(events(db, "contact.unarchived")) == 1


def test_paging_and_a_page_past_the_end(db, ana):
    for i in range(7):
        add_contact(db, phone=f"+1415867060{i}", name=f"Person {i}")
    first = contacts.list_contacts(db, ana, page_size=3)
    assert (first.total, first.pages, len(first.rows)) == (7, 3, 3)
    last = contacts.list_contacts(db, ana, page=2, page_size=3)
    assert [r["name"] for r in last.rows] == ["Person 6"]
    past = contacts.list_contacts(db, ana, page=9, page_size=3)
    assert past.page == 2 and [r["name"] for r in past.rows] == ["Person 6"]
    none = contacts.list_contacts(db, ana, search="nobody", page=4)
    assert (none.total, none.rows) == (0, [])


# ---- detail: conversations by permission, channels, opt-out -------------------------------------


@pytest.fixture
def shared_contact(db, ana, ben):
    sms, wa = add_sender(db), add_sender(db, channel="whatsapp")
    cid = add_contact(db, name="Shared Person")
    c_ana = add_conversation(db, contact_id=cid, sender_id=sms, owner_id=ana.id)
    c_ben = add_conversation(db, contact_id=cid, sender_id=wa, owner_id=ben.id)
    return cid, c_ana, c_ben


def test_agents_see_only_their_own_conversations_of_a_contact(db, ana, shared_contact):
    cid, c_ana, _ = shared_contact
    d = contacts.contact_detail(db, ana, cid)
    assert [c["conversation_id"] for c in d["conversations"]] == [c_ana]
    assert d["hidden_conversations"] == 1
    assert d["channels"] == ["sms", "whatsapp"]
    assert contacts.list_contacts(db, ana, search="shared").rows[0]["conversations"] == 1


@pytest.mark.parametrize("who", ["admin", "sam"])
def test_admins_and_supervisors_see_every_conversation(db, shared_contact, who, request):
    user = request.getfixturevalue(who)
    cid, c_ana, c_ben = shared_contact
    d = contacts.contact_detail(db, user, cid)
    assert sorted(c["conversation_id"] for c in d["conversations"]) == sorted([c_ana, c_ben])
    assert d["hidden_conversations"] == 0
    assert contacts.list_contacts(db, user, search="shared").rows[0]["conversations"] == 2


def test_detail_shows_opt_out_state_and_history(db, ana):
    cid = add_contact(db, name="Stopper", opted_out=True)
    now = clock.utcnow()
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO optout_history (contact_id, kind, keyword, channel, occurred_at) VALUES "
            "(?, 'opt_out', 'STOP', 'sms', ?), (?, 'opt_in', 'START', 'sms', ?)",
            [cid, now - dt.timedelta(days=2), cid, now - dt.timedelta(days=1)],
        )
    )
    d = contacts.contact_detail(db, ana, cid)
    assert d["opted_out"] is True
    assert [(h["what"], h["keyword"]) for h in d["optout_history"]] == [
        ("Opted back in", "START"),
        ("Opted out", "STOP"),
    ]


def test_every_kind_of_opt_out_history_reads_as_a_sentence_with_the_reason_given(db, ana):
    cid = add_contact(db, name="Stopper", opted_out=True)
    now = clock.utcnow()
    kinds = [
        ("flagged", None),
        ("flag_dismissed", None),
        ("opt_out_confirmed_by_agent", None),
        ("opt_in_repeat", None),
        ("opt_out_superseded", None),
        ("opt_in_superseded", None),
        ("opt_out", "Asked by phone not to be texted"),
    ]
    db.write(
        lambda tx: [
            tx.execute(
                "INSERT INTO optout_history (contact_id, kind, reason, occurred_at) VALUES (?, ?, ?, ?)",
                [cid, kind, reason, now - dt.timedelta(hours=len(kinds) - i)],
            )
            for i, (kind, reason) in enumerate(kinds)
        ]
    )
    d = contacts.contact_detail(db, ana, cid)
    assert [(h["what"], h["reason"]) for h in d["optout_history"]] == [
        ("Opted out", "Asked by phone not to be texted"),
        ("Sent a start word that arrived after a later stop word (not applied)", None),
        ("Sent a stop word that arrived after a later start word (not applied)", None),
        ("Sent a start word while subscribed", None),
        ("Opt-out confirmed by an agent", None),
        ("Possible opt-out request dismissed by an agent", None),
        ("Possible opt-out request", None),
    ]


def test_find_by_phone_accepts_any_spelling(db, ana):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670700")
    assert contacts.find_by_phone(db, ana, "(415) 867-0700")["id"] == cid
    assert contacts.find_by_phone(db, ana, "nonsense") is None


# ---- delete: only admins, only contacts without history (rule 4) --------------------------------


def test_contact_with_conversations_is_archived_not_deleted(db, admin, shared_contact):
    cid, *_ = shared_contact
    with pytest.raises(ValidationError, match="archive the contact instead"):
        contact_actions.do_delete_contact(db, admin, cid)
    assert db.scalar("SELECT count(*) FROM contacts WHERE id = ?", [cid]) == 1


def test_only_admins_delete_and_only_contacts_without_history(db, ana, admin):
    cid = contact_actions.do_create_contact(db, ana, phone="+14158670800", name="Typo")
    with pytest.raises(PermissionDenied, match="Only an admin"):
        contact_actions.do_delete_contact(db, ana, cid)
    assert contacts.contact_detail(db, admin, cid)["can_delete"] is True
    contact_actions.do_delete_contact(db, admin, cid)
    assert db.scalar("SELECT count(*) FROM contacts WHERE id = ?", [cid]) == 0
    assert len(events(db, "contact.deleted")) == 1
    stopper = add_contact(db, name="Stopper", opted_out=True)
    with pytest.raises(ValidationError, match="opt-out"):
        contact_actions.do_delete_contact(db, admin, stopper)


def test_campaign_messages_alone_also_block_deletion(db, admin):
    sender = add_sender(db)
    cid = add_contact(db, name="Got a campaign")
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO messages (contact_id, sender_id, direction, body, status, created_at) "
            "VALUES (?, ?, 'out', 'Hi', 'delivered', ?)",
            [cid, sender, clock.utcnow()],
        )
    )
    with pytest.raises(ValidationError, match="message history"):
        contact_actions.do_delete_contact(db, admin, cid)
