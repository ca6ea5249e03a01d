"""The contacts search index (core.contact_search): what a search finds, that every change is
found by the next search, what bad input gets, and that compaction changes no answer."""

from __future__ import annotations

import pytest

from core import contact_search, contacts, contacts_csv, contacts_csv_mapping, queries
from core.actions import contacts as contact_actions
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
        "jose": contact_actions.do_create_contact(db, ana, phone="+14158670400", name="José Núñez"),
        "maria": contact_actions.do_create_contact(db, ana, phone="+12125550123", name="María López"),
        "ohara": contact_actions.do_create_contact(db, ana, phone="+13125550188", name="Ann O'Hara"),
        "wang": contact_actions.do_create_contact(db, ana, phone="+16175550111", name="王小明"),
        "nameless": contact_actions.do_create_contact(db, ana, phone="+17185550142"),
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
    new = contact_actions.do_create_contact(db, ana, phone="+14158670999", name="Zelda Quint")
    assert names(db, ana, "quint") == ["Zelda Quint"]
    contact_actions.do_update_contact(db, ana, new, name="Zelda Marsh", phone="+14158670998")
    assert names(db, ana, "quint") == []
    assert names(db, ana, "marsh") == ["Zelda Marsh"]
    assert names(db, ana, "0999") == [] and names(db, ana, "0998") == ["Zelda Marsh"]
    contact_actions.do_archive_contact(db, ana, new)
    assert names(db, ana, "marsh") == []
    assert names(db, ana, "marsh", archived="archived") == ["Zelda Marsh"]
    contact_actions.do_unarchive_contact(db, ana, new)
    assert names(db, ana, "marsh") == ["Zelda Marsh"]
    contact_actions.do_delete_contact(db, admin, new)
    assert names(db, ana, "marsh", archived="all") == []


def test_an_import_is_found_by_the_next_search(db, ana, people):
    csv = "Name,Phone\nYuki Tanabe,(415) 867-0777\nJosé Núñez Jr,+1 415 867 0400\n".encode()
    parsed = contacts_csv.read_csv(csv)
    contacts_csv.import_contacts(db, ana, parsed, contacts_csv_mapping.guess_mapping(parsed.columns))
    assert names(db, ana, "tanabe") == ["Yuki Tanabe"]
    assert names(db, ana, "8670777") == ["Yuki Tanabe"]
    assert names(db, ana, "jr") == ["José Núñez Jr"]  # the existing contact, renamed by the import


def test_numbers_a_csv_campaign_made_contacts_are_found_by_the_next_search(db, ana, people):
    import json

    from core.actions import campaigns
    from core.actions.campaigns import CampaignDraft
    from core.campaigns.audience import AudienceSpec, read_csv_audience
    from tests.core.campaign_workspace import reply

    f.always_open(db)
    sms = f.add_sender(db)
    template = f.add_template(db, name="Recall", kind="campaign", channel="sms", body="Your cleaning is due.")
    audience = AudienceSpec("csv", csv=read_csv_audience(b"phone\n(415) 867-0999\n+1 212 555 0123\n", "list.csv"))
    draft = CampaignDraft(name="List", sender_id=sms, template_id=template, audience=audience, sources={})
    campaigns.do_send_campaign(db, ana, draft)  # one new number, one of an existing contact (María)
    assert [r["phone"] for r in contacts.list_contacts(db, ana, search="8670999").rows] == ["+14158670999"]
    everyone = contacts.list_contacts(db, ana)
    assert [r["phone"] for r in everyone.rows] == [
        "+13125550188",
        "+14158670400",
        "+12125550123",
        "+16175550111",
        "+14158670999",
        "+17185550142",
    ]
    assert everyone.total == 6
    imported = [json.loads(p) for (p,) in db.fetchall("SELECT payload FROM events WHERE name = 'contacts.imported'")]
    assert [(e["source"], e["created"]) for e in imported] == [("campaign", 1)]
    reply(db, sms, "+14158670999", "Who is this?")
    assert [r["contact_phone"] for r in queries.inbox_page(db, ana, search="867-0999").rows] == ["+14158670999"]


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
    contact_actions.do_update_contact(db, ana, people["maria"], name="María López Díaz")
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
    contact_actions.do_update_contact(db, ana, people["jose"], name="Joseph Nunes")
    assert names(db, ana, "nunez") == []
    assert names(db, ana, "nunes") == ["Joseph Nunes"]


def test_keys_made_for_a_few_contacts_are_the_keys_the_rebuild_makes(db, ana, people):
    def keys():
        return sorted(
            db.fetchall(
                "SELECT key, contact_id, sort_key, archived, code FROM contact_search_recent "
                "UNION ALL SELECT key, contact_id, sort_key, archived, code FROM contact_search"
            )
        )

    few = keys()  # every contact so far was indexed one transaction at a time (a few at once)
    contact_search.compact(db)  # the same contacts, indexed by SQL over the whole table
    assert keys() == few
    assert ("\x016175550111", people["wang"], "0王小明\x01+16175550111", False, 0x0136_3137_3535_3530) in few
    assert ("ose nunez", people["jose"], "0jose nunez\x01+14158670400", False, 0x6F73_6520_6E75_6E65) in few


def test_the_whole_list_stays_in_order_through_changes_and_compaction(db, ana, people):
    contact_search.compact(db)
    contact_actions.do_create_contact(db, ana, phone="+14158670555", name="Aaron Abbott")
    contact_actions.do_update_contact(db, ana, people["ohara"], name="Zed O'Hara")
    expected = ["Aaron Abbott", "José Núñez", "María López", "Zed O'Hara", "王小明", None]
    assert names(db, ana, None) == expected
    second = contacts.list_contacts(db, ana, page=1, page_size=4)
    assert [r["name"] for r in second.rows] == ["王小明", None] and second.total == 6
    contact_search.compact(db)
    assert names(db, ana, None) == expected


# ---- the sorted table's fast path: ranges of codes ------------------------------------------------


def test_a_keys_code_is_its_first_eight_bytes_and_a_prefix_is_a_range_of_codes():
    assert contact_search.code_of("") == 0
    assert contact_search.code_of("ab") == 0x6162_0000_0000_0000
    assert contact_search.code_of("ose nunez") == 0x6F73_6520_6E75_6E65  # the 9th byte is left out
    assert contact_search.code_range("ab") == (0x6162_0000_0000_0000, 0x6162_FFFF_FFFF_FFFF, True)
    assert contact_search.code_range("王小") == (0xE78E_8BE5_B08F_0000, 0xE78E_8BE5_B08F_FFFF, True)
    # "\x01" and 7 digits fill the 8 bytes: still exact; one digit more must be checked on the key
    assert contact_search.code_range("\x014155550") == (0x0134_3135_3535_3530, 0x0134_3135_3535_3530, True)
    assert contact_search.code_range("\x0141555501") == (0x0134_3135_3535_3530, 0x0134_3135_3535_3530, False)


def test_the_rebuilt_table_holds_the_code_of_each_key(db, ana, people):
    contact_search.compact(db)
    rows = db.fetchall(
        "SELECT key, code FROM contact_search WHERE contact_id = ? AND key IN ('', 'ose nunez', '\x014158670400')",
        [people["jose"]],
    )
    assert sorted(rows) == [("", 0), ("\x014158670400", 0x0134_3135_3836_3730), ("ose nunez", 0x6F73_6520_6E75_6E65)]


@pytest.mark.parametrize(
    "typed, found",
    [
        ("jose", ["José Núñez"]),
        ("jose nunez", ["José Núñez"]),  # 10 bytes: narrowed by code, then checked on the key
        ("ose nu", ["José Núñez"]),
        ("小明", ["王小明"]),  # 6 bytes
        ("王小明", ["王小明"]),  # 9 bytes
        ("555", ["Ann O'Hara", "María López", "王小明", None]),
        ("5550123", ["María López"]),  # 7 digits: the whole 8-byte code
        ("2125550123", ["María López"]),  # 10 digits: checked on the key
        ("+1 (212) 555-0123", ["María López"]),
        ("0188", ["Ann O'Hara"]),
        ("5550199", []),
        ("%", []),
        ("_", []),
        ("\\", []),
        (".*", []),
        ("x" * 1000, []),
    ],
)
def test_what_the_sorted_table_finds(db, ana, people, typed, found):
    contact_search.compact(db)
    assert db.scalar("SELECT count(*) FROM contact_search_recent") == 0  # answered by the sorted table alone
    assert names(db, ana, typed) == found


def test_list_rows_carry_the_number_before_and_after_compaction(db, ana, people):
    def shown():
        return [(r["name"], r["phone"]) for r in contacts.list_contacts(db, ana, search="555").rows]

    expected = [
        ("Ann O'Hara", "+13125550188"),
        ("María López", "+12125550123"),
        ("王小明", "+16175550111"),
        (None, "+17185550142"),
    ]
    assert shown() == expected
    contact_search.compact(db)
    assert shown() == expected
    contact_actions.do_update_contact(db, ana, people["maria"], phone="+12125550124")
    assert shown()[1] == ("María López", "+12125550124")
    assert contact_search.phone_of("0maria lopez\x01+12125550124") == "+12125550124"


# ---- conversation search through the index ------------------------------------------------------


@pytest.fixture
def inbox(db, ana, make_user):
    import datetime as dt

    from core import clock

    sms = f.add_sender(db)
    now = clock.utcnow()
    made = {}
    for minutes, name in [(30, "Ana Marti"), (10, "Bea Martin"), (20, "Cy Lopez"), (40, "Dee Smart")]:
        contact = f.add_contact(db, name=name)
        made[name] = f.add_conversation(
            db, contact_id=contact, sender_id=sms, owner_id=ana.id, last_inbound_at=now - dt.timedelta(minutes=minutes)
        )
    return dict(made, sender=sms, admin=make_user("ada", "admin"))


def test_conversation_search_by_name_finds_the_contacts_conversations_newest_first(db, ana, inbox):

    def found(query, user=ana):
        view = queries.inbox_view(db, user, scope="mine" if user is ana else "team", search=query)
        return [r["contact_name"] for r in view.page.rows], view.page.total

    assert found("mart") == (["Bea Martin", "Ana Marti", "Dee Smart"], 3)
    assert found("mart", inbox["admin"]) == (["Bea Martin", "Ana Marti", "Dee Smart"], 3)
    assert found("marti") == (["Bea Martin", "Ana Marti"], 2)
    assert found("lopez") == (["Cy Lopez"], 1)
    assert found("nobody") == ([], 0)
    contact_search.compact(db)
    assert found("mart") == (["Bea Martin", "Ana Marti", "Dee Smart"], 3)
    # a contact created and one renamed after the compaction are found by the next search
    new = f.add_contact(db, name="Eve Martel")
    f.add_conversation(db, contact_id=new, sender_id=inbox["sender"], owner_id=ana.id)
    contact_actions.do_update_contact(
        db, ana, db.scalar("SELECT contact_id FROM conversations WHERE id = ?", [inbox["Cy Lopez"]]), name="Cy Marten"
    )
    assert found("mart") == (["Eve Martel", "Bea Martin", "Cy Marten", "Ana Marti", "Dee Smart"], 5)
    assert found("lopez") == ([], 0)


@pytest.mark.parametrize("literal_ids", [100, 1])  # literals (a few matches), a semi-join (more)
def test_conversation_search_by_number_finds_the_contacts_conversations_newest_first(
    db, ana, inbox, monkeypatch, literal_ids
):
    monkeypatch.setattr(contact_search, "LITERAL_IDS", literal_ids)
    phones = {
        name: db.scalar(
            "SELECT ct.phone FROM conversations c JOIN contacts ct ON ct.id = c.contact_id WHERE c.id = ?",
            [conversation],
        )
        for name, conversation in inbox.items()
        if name[0].isupper()
    }

    def found(query):
        view = queries.inbox_view(db, ana, search=query)
        return [r["contact_name"] for r in view.page.rows], view.page.total

    assert found(phones["Cy Lopez"][-7:]) == (["Cy Lopez"], 1)
    assert found(phones["Ana Marti"]) == (["Ana Marti"], 1)
    assert found("+1 999 000") == ([], 0)
    assert found("415 867") == (["Bea Martin", "Cy Lopez", "Ana Marti", "Dee Smart"], 4)  # more than 1: a semi-join
    contact_search.compact(db)
    assert found(phones["Dee Smart"][-4:]) == (["Dee Smart"], 1)
    # a contact created after the compaction is found by its number in the next search
    fay = contact_actions.do_create_contact(db, ana, phone="+1 (212) 555-0199", name="Fay Dunn")
    f.add_conversation(db, contact_id=fay, sender_id=inbox["sender"], owner_id=ana.id)
    assert found("555-0199") == (["Fay Dunn"], 1)
    assert found("212 555") == (["Fay Dunn"], 1)


def test_a_contact_deleted_after_compaction_is_gone_from_every_search(db, ana, people, make_user):
    admin = make_user("ada", "admin")
    contact_search.compact(db)
    contact_actions.do_delete_contact(db, admin, people["ohara"])
    assert names(db, ana, "hara") == []
    assert names(db, ana, "5550188") == []
    assert names(db, ana, "555") == ["María López", "王小明", None]
    assert names(db, ana, None) == ["José Núñez", "María López", "王小明", None]
    assert contacts.list_contacts(db, ana).total == 4


def test_an_import_of_many_is_indexed_in_sql_with_codes_and_found_by_the_next_search(db, ana, people):
    contact_search.compact(db)
    lines = ["Name,Phone"] + [f"Person {i:02d} Quill,(646) 555-01{i:02d}" for i in range(30)]  # more than FEW
    parsed = contacts_csv.read_csv(("\n".join(lines) + "\n").encode())
    contacts_csv.import_contacts(db, ana, parsed, contacts_csv_mapping.guess_mapping(parsed.columns))
    assert db.scalar("SELECT count(DISTINCT contact_id) FROM contact_search_recent") == 30
    assert names(db, ana, "person 07") == ["Person 07 Quill"]
    assert names(db, ana, "5550129") == ["Person 29 Quill"]
    assert contacts.list_contacts(db, ana, search="quill").total == 30
    assert db.scalar("SELECT code FROM contact_search_recent WHERE key = 'quill'") == 0x7175_696C_6C00_0000
    recent = sorted(db.fetchall("SELECT key, contact_id, sort_key, archived, code FROM contact_search_recent"))
    contact_search.compact(db)
    rebuilt = db.fetchall(
        "SELECT key, contact_id, sort_key, archived, code FROM contact_search WHERE contact_id IN "
        "(SELECT id FROM contacts WHERE name LIKE '%Quill')"
    )
    assert sorted(rebuilt) == recent
