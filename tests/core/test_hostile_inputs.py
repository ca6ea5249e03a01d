"""Issue 17's hostile-input suite, core half: every hostile value (``tests/hostile.py``) into every input.

Inputs: the composer (SMS and WhatsApp), conversation search, contact search, each contact
field on create and the name on edit, a CSV import, an attachment's file name, sign-in
(username and password). For each pair the test writes the literal answer: stored exactly as
text, or one ``core.errors`` sentence, never another exception; and every table other than
the ones the input writes to is unchanged, row for row (the rows it does write to keep their
other rows untouched). The route half is ``tests/routes/test_hostile_routes.py``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from core import auth, clock, contacts, contacts_csv, contacts_csv_mapping, queries, schema, settings
from core.actions import contacts as contact_actions
from core.actions import messaging
from core.actions.messaging import Attachment
from core.actions.users import do_create_workspace
from core.auth import get_user
from core.db import Database
from core.errors import ParleyError
from core.media_store import MediaStore
from tests import factories as f
from tests.hostile import BOOKKEEPING, NAMES, NOT_UNICODE, VALUES, changes, snapshot

STORED = object()  # the expected answer "stored exactly as given"
A40 = "A" * 40 + "…"  # how a sentence quotes the 1 MB value


# ---- a workspace shared by the module; each case checks its own before/after -------------------


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    db = Database(root / "parley.duckdb")
    schema.migrate(db)
    do_create_workspace(db, name="Hostile", demo=False)
    settings.ensure_defaults(db)
    f.always_open(db)
    maria = get_user(db, f.add_user(db, "maria"))
    sms = f.add_sender(db)
    wa = f.add_sender(db, channel="whatsapp", provider_ref="PNID1")
    plain = f.add_contact(db, name="Zoë Ávila")
    c_sms = f.add_conversation(db, contact_id=plain, sender_id=sms, owner_id=maria.id)
    c_wa = f.add_conversation(db, contact_id=plain, sender_id=wa, owner_id=maria.id)
    # One contact (with a conversation) named after each value a name can hold: searches must
    # find exactly the one whose name holds the query, as plain characters.
    named = {}
    for name in NAMES:
        value = VALUES[name]
        if name in ("one_megabyte", "invalid_utf8"):
            continue
        cid = f.add_contact(db, name="a b" if name == "nul" else value)
        f.add_conversation(db, contact_id=cid, sender_id=sms, owner_id=maria.id)
        named[name] = cid
    yield dict(db=db, maria=maria, c_sms=c_sms, c_wa=c_wa, media=MediaStore(root / "media"), named=named)
    db.close()


def outcome(call):
    """('ok', result) or ('error', sentence) — any other exception fails the test as it is."""
    try:
        return "ok", call()
    except ParleyError as exc:
        return "error", str(exc)


# ---- the composer --------------------------------------------------------------------------------

SEND_REFUSED = {
    "nul": "The message contains a NUL character, which cannot be sent; remove it and try again.",
    "invalid_utf8": NOT_UNICODE,
    "template_braces": "The message still has an unfilled variable {{first_name}}; replace it before sending.",
}


@pytest.mark.parametrize("channel", ["sms", "whatsapp"])
@pytest.mark.parametrize("name", NAMES)
def test_composer_send(ws, channel, name):
    db, maria = ws["db"], ws["maria"]
    conv = ws["c_sms"] if channel == "sms" else ws["c_wa"]
    refused = dict(
        SEND_REFUSED,
        one_megabyte="This message is 1,000,000 characters; SMS messages can be at most 1,600 characters."
        if channel == "sms"
        else "This message is 1,000,000 characters; WhatsApp messages can be at most 4,096 characters.",
    )
    before = snapshot(db)
    kind, result = outcome(lambda: messaging.do_send(db, maria, conv, VALUES[name]))
    after = snapshot(db)
    if name in refused:
        assert (kind, result) == ("error", refused[name])
        assert after == before
        return
    assert kind == "ok"
    assert db.fetchone("SELECT body, status, direction FROM messages WHERE id = ?", [result]) == (
        VALUES[name],
        "queued",
        "out",
    )
    assert db.scalar("SELECT count(*) FROM outbox WHERE message_id = ?", [result]) == 1
    changed = changes(before, after)
    # One new message and outbox row; the conversation's summary row moved; nothing else.
    assert changed.pop("messages") == (0, 1)
    assert changed.pop("outbox") == (0, 1)
    assert changed.pop("conversations") == (1, 1)
    assert changed.pop("users", (1, 1)) == (1, 1)  # the owner's inbox version moved, no one else's
    assert set(changed) <= BOOKKEEPING | {"drafts"}, changed


# ---- searching ------------------------------------------------------------------------------------

# Which seeded contact names each query finds (by value name); a query is characters, never a
# pattern: '%_%' finds only the name holding those three characters.
SEARCH_FINDS = {
    "script": {"script"},
    "img_onerror": {"img_onerror"},
    "md_link": {"md_link"},
    "md_image": {"md_image"},
    "sql": {"sql"},
    "like_wildcards": {"like_wildcards"},
    "regex": {"regex"},
    "nul": set(),  # the contact's name was stored as 'a b'
    "rtl_override": {"rtl_override"},
    "one_megabyte": set(),
    "invalid_utf8": NOT_UNICODE,
    "path_traversal": {"path_traversal"},
    "template_braces": {"template_braces"},
    "formula": {"formula"},
}


def _found(ws, contact_ids) -> set[str]:
    by_id = {cid: name for name, cid in ws["named"].items()}
    return {by_id.get(cid, f"other contact {cid}") for cid in contact_ids}


@pytest.mark.parametrize("name", NAMES)
def test_conversation_search(ws, name):
    db = ws["db"]
    before = snapshot(db)
    kind, page = outcome(lambda: queries.inbox_page(db, ws["maria"], search=VALUES[name], status="all"))
    expected = SEARCH_FINDS[name]
    if isinstance(expected, str):
        assert (kind, page) == ("error", expected)
    else:
        assert kind == "ok"
        assert _found(ws, [r["contact_id"] for r in page.rows]) == expected
        assert page.total == len(expected)
    assert snapshot(db) == before


@pytest.mark.parametrize("name", NAMES)
def test_contact_search(ws, name):
    db = ws["db"]
    before = snapshot(db)
    kind, page = outcome(lambda: contacts.list_contacts(db, ws["maria"], search=VALUES[name]))
    expected = SEARCH_FINDS[name]
    if isinstance(expected, str):
        assert (kind, page) == ("error", expected)
    else:
        assert kind == "ok"
        assert _found(ws, [r["id"] for r in page.rows]) == expected
    assert snapshot(db) == before


# ---- contact fields -----------------------------------------------------------------------------

# How a field's sentence quotes a value it refuses (control characters become spaces, long
# values are cut at 40 characters).
QUOTED = {
    "script": '<script>alert("x")</script>',
    "img_onerror": "<img src=x onerror=alert(1)>",
    "md_link": "[click](javascript:alert(1))",
    "md_image": "![p](http://evil.example/x.png)",
    "sql": "Robert'); DROP TABLE contacts;--",
    "like_wildcards": "%_%",
    "regex": ".*(a+)+$[",
    "nul": "a b",
    "rtl_override": "\u202egnp.exe",
    "one_megabyte": A40,
    "path_traversal": "../../etc/passwd",
    "template_braces": "{{first_name}}",
    "formula": '=HYPERLINK("http://evil.example","x")',
}


def _refused_everywhere(sentence: str) -> dict[str, str]:
    answers = {name: sentence.format(QUOTED[name]) for name in QUOTED}
    answers["invalid_utf8"] = NOT_UNICODE
    return answers


FIELD_ANSWERS: dict[str, dict[str, object]] = {
    "name": {
        **{name: STORED for name in NAMES},
        "nul": ("stored as", "a b"),  # a control character is a space in a name
        "one_megabyte": ("error", f"A name can be at most 120 characters; “{A40}” is longer."),
        "invalid_utf8": ("error", NOT_UNICODE),
    },
    "notes": {
        **{name: STORED for name in NAMES},
        "nul": ("stored as", "a b"),
        "one_megabyte": ("error", "Notes can be at most 2,000 characters; these have 1,000,000."),
        "invalid_utf8": ("error", NOT_UNICODE),
    },
    "tags": {
        **{name: STORED for name in NAMES},
        "sql": ("stored as", "Robert'), DROP TABLE contacts, --"),  # ';' separates tags
        "formula": ("stored as", '=HYPERLINK("http://evil.example", "x")'),  # so does ','
        "nul": ("stored as", "a b"),
        "one_megabyte": ("error", f"A tag can be at most 40 characters; “{A40}” is longer."),
        "invalid_utf8": ("error", NOT_UNICODE),
    },
    "email": {
        name: ("error", s)
        for name, s in _refused_everywhere(
            "“{}” is not an email address; it should look like name@example.com."
        ).items()
    },
    "timezone": {
        name: ("error", s)
        for name, s in _refused_everywhere("“{}” is not a time zone; use a name like America/New_York.").items()
    },
    "phone": {name: ("error", s) for name, s in _refused_everywhere("“{}” is not a valid phone number.").items()},
}
# A phone number's sentence keeps the characters as typed (NUL included) and cuts at 40 too.
FIELD_ANSWERS["phone"]["nul"] = ("error", "“a\x00b” is not a valid phone number.")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("field", list(FIELD_ANSWERS))
def test_contact_field_on_create(ws, field, name):
    db = ws["db"]
    values = {"phone": f.next_phone(), field: VALUES[name]}
    before = snapshot(db)
    kind, result = outcome(lambda: contact_actions.do_create_contact(db, ws["maria"], **values))
    after = snapshot(db)
    expected = FIELD_ANSWERS[field][name]
    if expected is not STORED and expected[0] == "error":
        assert (kind, result) == expected
        assert after == before
        return
    stored = VALUES[name] if expected is STORED else expected[1]
    assert kind == "ok"
    assert db.scalar(f"SELECT {field} FROM contacts WHERE id = ?", [result]) == stored
    changed = changes(before, after)
    assert changed.pop("contacts") == (0, 1)
    assert set(changed) <= BOOKKEEPING, changed


@pytest.mark.parametrize("name", NAMES)
def test_contact_name_on_edit(ws, name):
    db = ws["db"]
    cid = f.add_contact(db, name="Before")
    before = snapshot(db)
    kind, result = outcome(lambda: contact_actions.do_update_contact(db, ws["maria"], cid, name=VALUES[name]))
    after = snapshot(db)
    expected = FIELD_ANSWERS["name"][name]
    if expected is not STORED and expected[0] == "error":
        assert (kind, result) == expected
        assert after == before
        return
    assert (kind, result) == ("ok", ["name"])
    assert db.scalar("SELECT name FROM contacts WHERE id = ?", [cid]) == (
        VALUES[name] if expected is STORED else expected[1]
    )
    changed = changes(before, after)
    assert changed.pop("contacts") == (1, 1)  # this contact's row, no other
    assert set(changed) <= BOOKKEEPING, changed


# ---- CSV import ---------------------------------------------------------------------------------

CSV_NAME = {
    **{name: ("created", VALUES[name], "") for name in NAMES},
    "nul": ("file refused", "That file holds binary data, not text; save it as CSV and import that."),
    "one_megabyte": (
        "rejected",
        None,
        f"A name can be at most 120 characters; “{A40}” is longer.",
    ),
    # The file is not UTF-8, so it is read as Windows-1252: the byte is the é it meant.
    "invalid_utf8": ("created", "café", ""),
}


@pytest.mark.parametrize("name", NAMES)
def test_csv_import_name_cell(ws, name):
    db = ws["db"]
    phone = f.next_phone()
    cell = VALUES[name].replace('"', '""')
    data = f'Name,Phone,Notes\n"{cell}",{phone},first\nPlain Row,{f.next_phone()},second\n'
    data = data.encode("utf-8", "surrogateescape")  # invalid_utf8: the raw byte 0xE9
    before = snapshot(db)
    try:
        parsed = contacts_csv.read_csv(data)
        report = contacts_csv.import_contacts(
            db, ws["maria"], parsed, contacts_csv_mapping.guess_mapping(parsed.columns)
        )
    except ParleyError as exc:
        assert CSV_NAME[name] == ("file refused", str(exc))
        assert snapshot(db) == before
        return
    expected = CSV_NAME[name]
    rows = {int(r.Row): (r.Result, None if pd.isna(r.Name) else r.Name, r.Reason) for r in report.rows.itertuples()}
    assert rows[2] == expected
    assert rows[3] == ("created", "Plain Row", "")
    changed = changes(before, snapshot(db))
    assert changed.pop("contacts") == (0, 2 if expected[0] == "created" else 1)
    assert changed.pop("audit_log") == (0, 1)  # the import's one entry
    assert set(changed) <= BOOKKEEPING, changed
    if expected[0] == "created":
        assert db.fetchone("SELECT name, notes FROM contacts WHERE phone = ?", [phone]) == (expected[1], "first")


def test_csv_export_keeps_a_formula_a_text(ws):
    db = ws["db"]
    exported = contacts_csv.export_contacts(db, ws["maria"], search=VALUES["formula"]).decode("utf-8-sig")
    assert exported.splitlines()[1].startswith('"\'=HYPERLINK(""http://evil.example"",""x"")"')


# ---- an attachment's file name ------------------------------------------------------------------

FILE_NAMES = {
    "script": "script_.png",
    "img_onerror": "_img src=x onerror=alert(1)_.png",
    "md_link": "[click](javascript_alert(1)).png",
    "md_image": "x.png).png",
    "sql": "Robert'); DROP TABLE contacts;--.png",
    "like_wildcards": "%_%.png",
    "regex": "_(a+)+$[.png",
    "nul": "ab.png",
    "rtl_override": "gnp.exe.png",
    "one_megabyte": "A" * 96 + ".png",
    "invalid_utf8": "caf.png",
    "path_traversal": "passwd.png",
    "template_braces": "{{first_name}}.png",
    "formula": "evil.example_,_x_).png",  # after the last '/'
}


@pytest.mark.parametrize("name", NAMES)
def test_attachment_file_name(ws, name):
    db = ws["db"]
    picture = Attachment(filename=VALUES[name] + ".png", content_type="image/png", data=f.picture_bytes())
    before = snapshot(db)
    mid = messaging.do_send(
        db, ws["maria"], ws["c_sms"], "See attached", attachments=[picture], media_store=ws["media"]
    )
    assert db.fetchall("SELECT filename, content_type FROM media WHERE message_id = ?", [mid]) == [
        (FILE_NAMES[name], "image/png")
    ]
    changed = changes(before, snapshot(db))
    assert (changed.pop("messages"), changed.pop("media"), changed.pop("outbox")) == ((0, 1), (0, 1), (0, 1))
    assert changed.pop("conversations") == (1, 1)
    assert changed.pop("users", (1, 1)) == (1, 1)
    assert set(changed) <= BOOKKEEPING | {"drafts"}, changed
    # Stored under its content hash, never under the name it came with.
    assert sorted(p.name for p in ws["media"].root.rglob("*") if p.is_file())[0] != FILE_NAMES[name]


# ---- sign-in ------------------------------------------------------------------------------------

SIGN_IN_REFUSED = {
    **{name: "Wrong username or password." for name in NAMES},
    "invalid_utf8": NOT_UNICODE,
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("which", ["username", "password"])
def test_sign_in(db, make_user, which, name):
    make_user("maria")
    clock.freeze(dt.datetime(2026, 11, 2, 15, 0))
    username, password = ("maria", VALUES[name]) if which == "password" else (VALUES[name], "correct-horse")
    users_before = db.fetchall("SELECT * FROM users ORDER BY id")
    kind, result = outcome(lambda: auth.sign_in(db, username, password, source="203.0.113.9"))
    if which == "password" and name == "invalid_utf8":
        # A password is only ever hashed, never stored or compared as text: a wrong one.
        assert (kind, result) == ("error", "Wrong username or password.")
    else:
        assert (kind, result) == ("error", SIGN_IN_REFUSED[name])
    assert db.fetchall("SELECT * FROM users ORDER BY id") == users_before
    assert db.scalar("SELECT count(*) FROM sessions") == 0
    if result == "Wrong username or password.":
        # The attempt is on record with the username as typed (trimmed, lower case, at most 64).
        tried = "maria" if which == "password" else ATTEMPT_USERNAME.get(name, VALUES[name])
        assert db.scalar("SELECT username FROM sign_in_attempts") == tried


ATTEMPT_USERNAME = {
    "sql": "robert'); drop table contacts;--",
    "one_megabyte": "a" * 64,
    "formula": '=hyperlink("http://evil.example","x")',
}


# ---- a name a provider sent ------------------------------------------------------------------------

PROVIDER_NAMES = {
    "script": '<script>alert("x")</script>',
    "nul": "a b",
    "invalid_utf8": "caf\ufffd",
    "one_megabyte": "A" * 120,
    "rtl_override": "\u202egnp.exe",
}


@pytest.mark.parametrize("name", list(PROVIDER_NAMES))
def test_a_provider_sent_name_is_made_to_fit_never_refused(name):
    from core.contact_fields import name_from_provider

    assert name_from_provider(VALUES[name]) == PROVIDER_NAMES[name]
