"""The contacts search index (core.contact_search): what a search finds, that every change is
found by the next search, what bad input gets, and that compaction changes no answer."""

from __future__ import annotations

import pytest

from core import contact_search, contacts, contacts_csv, queries
from core.errors import ValidationError
from tests import factories as f


@pytest.fixture
def ana(make_user):
    return make_user("ana", "standard", "Ana")


def names(db, user, query, archived="active"):
    return [r["name"] for r in contacts.list_contacts(db, user, search=query, archived=archived).rows]


@pytest.fixture
def people(db, ana):
    return {
        "jose": contacts.do_create_contact(db, ana, phone="+14158670400", name="José Núñez"),
        "maria": contacts.do_create_contact(db, ana, phone="+12125550123", name="María López"),
        "ohara": contacts.do_create_contact(db, ana, phone="+13125550188", name="Ann O'Hara"),
        "wang": contacts.do_create_contact(db, ana, phone="+16175550111", name="王小明"),
        "nameless": contacts.do_create_contact(db, ana, phone="+17185550142"),
    }


@pytest.mark.parametrize(
    "typed, found",
    [
        ("jose", ["José Núñez"]),
        ("NÚÑ", ["José Núñez"]),
        ("ose nu", ["José Núñez"]),
        ("lop", ["María López"]),
        ("王", ["王小明"]),  # one Chinese character is a name fragment
        ("555", ["Ann O'Hara", "María López", "王小明", None]),
        ("(212) 555-0123", ["María López"]),
        ("+1 212 555 0123", ["María López"]),
        ("5550123", ["María López"]),
        ("0188", ["Ann O'Hara"]),
        ("'", ["Ann O'Hara"]),
        ("%", []),
        ("_", []),
        ("\\", []),
        (".*", []),
        ("' OR 1=1 --", []),
        ("x" * 1000, []),
    ],
)
def test_what_a_search_finds(db, ana, people, typed, found):
    assert names(db, ana, typed) == found


@pytest.mark.parametrize("typed", ["a", "É", " j "])
def test_one_letter_gets_one_sentence(db, ana, people, typed):
    with pytest.raises(ValidationError) as raised:
        contacts.list_contacts(db, ana, search=typed)
    assert str(raised.value) == "Type at least two letters of the name to search."


@pytest.mark.parametrize("typed", ["5", "55", "+1", "(5)"])
def test_too_few_digits_get_one_sentence(db, ana, people, typed):
    with pytest.raises(ValidationError) as raised:
        contacts.list_contacts(db, ana, search=typed)
    assert str(raised.value) == "Type at least 3 digits to search by number."


def test_the_whole_list_in_name_order_without_a_search(db, ana, people):
    assert names(db, ana, None) == ["Ann O'Hara", "José Núñez", "María López", "王小明", None]
    assert contacts.list_contacts(db, ana).total == 5


def test_created_edited_archived_and_deleted_are_found_by_the_next_search(db, ana, people, make_user):
    admin = make_user("ada", "admin")
    new = contacts.do_create_contact(db, ana, phone="+14158670999", name="Zelda Quint")
    assert names(db, ana, "quint") == ["Zelda Quint"]
    contacts.do_update_contact(db, ana, new, name="Zelda Marsh", phone="+14158670998")
    assert names(db, ana, "quint") == []
    assert names(db, ana, "marsh") == ["Zelda Marsh"]
    assert names(db, ana, "0999") == [] and names(db, ana, "0998") == ["Zelda Marsh"]
    contacts.do_archive_contact(db, ana, new)
    assert names(db, ana, "marsh") == []
    assert names(db, ana, "marsh", archived="archived") == ["Zelda Marsh"]
    contacts.do_unarchive_contact(db, ana, new)
    assert names(db, ana, "marsh") == ["Zelda Marsh"]
    contacts.do_delete_contact(db, admin, new)
    assert names(db, ana, "marsh", archived="all") == []


def test_an_import_is_found_by_the_next_search(db, ana, people):
    csv = "Name,Phone\nYuki Tanabe,(415) 867-0777\nJosé Núñez Jr,+1 415 867 0400\n".encode()
    parsed = contacts_csv.read_csv(csv)
    contacts_csv.import_contacts(db, ana, parsed, contacts_csv.guess_mapping(parsed.columns))
    assert names(db, ana, "tanabe") == ["Yuki Tanabe"]
    assert names(db, ana, "8670777") == ["Yuki Tanabe"]
    assert names(db, ana, "jr") == ["José Núñez Jr"]  # the existing contact, renamed by the import


def test_a_contact_that_wrote_in_is_found_by_inbox_search(db, ana):
    from core.actions import inbound
    from core.providers.base import InboundEvent

    sms = f.add_sender(db)
    sender = db.dicts("SELECT * FROM senders WHERE id = ?", [sms])[0]
    db.write(lambda tx: tx.execute("INSERT INTO settings VALUES ('default_owner_id', ?)", [str(ana.id)]))
    event = InboundEvent("SMcs1", "sms", "+14158670321", sender["phone"], None, "Hello?", _now(), profile_name="Kai Ng")
    db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
    assert [r["contact_name"] for r in queries.inbox_page(db, ana, search="kai").rows] == ["Kai Ng"]
    assert [r["contact_name"] for r in queries.inbox_page(db, ana, search="867-0321").rows] == ["Kai Ng"]


def _now():
    from core import clock

    return clock.utcnow()


def test_compacting_changes_no_answer(db, ana, people):
    contacts.do_update_contact(db, ana, people["maria"], name="María López Díaz")
    assert db.scalar("SELECT count(DISTINCT contact_id) FROM contact_search_recent") == 5  # every contact so far
    before = {q: names(db, ana, q) for q in ("diaz", "lop", "555", "ann", None)}
    keys = contact_search.compact(db)
    assert db.scalar("SELECT count(*) FROM contact_search_recent") == 0
    assert keys == db.scalar("SELECT count(*) FROM contact_search")
    assert {q: names(db, ana, q) for q in before} == before
    assert before["diaz"] == ["María López Díaz"]


def test_compacting_starts_in_the_background_past_the_threshold(db, ana, people):
    assert contact_search.maybe_compact(db, threshold=10_000) is None
    thread = contact_search.maybe_compact(db, threshold=1)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert db.scalar("SELECT count(*) FROM contact_search_recent") == 0
    assert names(db, ana, "jose") == ["José Núñez"]


def test_a_change_made_after_compaction_still_overrides(db, ana, people):
    contact_search.compact(db)
    contacts.do_update_contact(db, ana, people["jose"], name="Joseph Nunes")
    assert names(db, ana, "nunez") == []
    assert names(db, ana, "nunes") == ["Joseph Nunes"]


def test_keys_made_for_a_few_contacts_are_the_keys_the_rebuild_makes(db, ana, people):
    def keys():
        return sorted(
            db.fetchall(
                "SELECT key, contact_id, sort_key, archived FROM contact_search_recent "
                "UNION ALL SELECT key, contact_id, sort_key, archived FROM contact_search"
            )
        )

    few = keys()  # every contact so far was indexed one transaction at a time (a few at once)
    contact_search.compact(db)  # the same contacts, indexed by SQL over the whole table
    assert keys() == few
    assert ("\x016175550111", people["wang"], "0王小明\x01+16175550111", False) in few
    assert ("ose nunez", people["jose"], "0jose nunez\x01+14158670400", False) in few


def test_the_whole_list_stays_in_order_through_changes_and_compaction(db, ana, people):
    contact_search.compact(db)
    contacts.do_create_contact(db, ana, phone="+14158670555", name="Aaron Abbott")
    contacts.do_update_contact(db, ana, people["ohara"], name="Zed O'Hara")
    expected = ["Aaron Abbott", "José Núñez", "María López", "Zed O'Hara", "王小明", None]
    assert names(db, ana, None) == expected
    second = contacts.list_contacts(db, ana, page=1, page_size=4)
    assert [r["name"] for r in second.rows] == ["王小明", None] and second.total == 6
    contact_search.compact(db)
    assert names(db, ana, None) == expected
