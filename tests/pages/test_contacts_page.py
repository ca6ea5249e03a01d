"""The Contacts page under AppTest: list, search, open, create, duplicates, roles, archive, CSV import."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import contacts
from tests import factories as f
from tests.conftest import ROOT, demo_user, sign_in_apptest
from tests.pages import lists
from tests.pages.lists import workspace  # noqa: F401

PAGE = "pages/contacts.py"


def texts(at, kind) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def all_text(at) -> str:
    return "\n".join(
        texts(at, "markdown")
        + texts(at, "caption")
        + texts(at, "subheader")
        + texts(at, "error")
        + texts(at, "success")
        + texts(at, "warning")
        + texts(at, "info")
    )


def page_errors(at):
    return [e for e in at.exception if "contact" in "".join(e.stack_trace or [])]


def button(at, label):
    found = [b for b in at.button if b.label == label]
    assert found, f"no button {label!r} in {[b.label for b in at.button]}"
    return found[0]


def search(at, query):
    at.text_input(key="contacts.q_input").input(query)
    button(at, "Search").click()
    return at.run()


def listed(at) -> list[dict]:
    return lists.rows(at, "contacts")


def page_as(demo_runtime, username, query=None) -> AppTest:
    """The page script alone (roles whose navigation has no Contacts entry, e.g. supervisors)."""
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(at, demo_runtime, username)
    for key, value in (query or {}).items():
        at.query_params[key] = str(value)
    return at.run()


def test_list_shows_the_first_page(app_as, demo_db):
    total = demo_db.scalar("SELECT count(*) FROM contacts WHERE NOT archived")
    at = app_as("maria", PAGE)
    assert not page_errors(at) and not at.error
    assert len(listed(at)) == min(total, contacts.PAGE_SIZE)
    assert f"of {total:,}" in all_text(at)
    assert at.download_button, "Export CSV is offered"


def test_search_by_name_and_by_number(app_as, demo_db):
    name, phone = demo_db.fetchone(
        "SELECT name, phone FROM contacts WHERE name LIKE '% %' AND NOT archived ORDER BY id LIMIT 1"
    )
    at = search(app_as("maria", PAGE), name.split()[-1].upper())
    assert name in [r["title"] for r in listed(at)]
    national = phone[2:]
    at = search(at, f"({national[:3]}) {national[3:6]}-{national[6:]}")
    assert [r["title"] for r in listed(at)] == [name]
    at = search(at, "%_.*")
    assert not at.error and "No contacts match" in all_text(at)


def test_the_list_payload_is_stamped_anew_only_when_its_rows_change(app_as, demo_db):
    """``drawn`` (pages/row_list.py): the browser never draws a payload older than one it drew, so
    new rows get a larger stamp; the same rows keep theirs (an unchanged list stays the same message)."""
    name = demo_db.scalar("SELECT name FROM contacts WHERE name LIKE '% %' AND NOT archived ORDER BY id LIMIT 1")
    at = app_as("maria", PAGE)
    first = lists.rows_data(at, "contacts")["drawn"]
    assert lists.rows_data(at.run(), "contacts")["drawn"] == first, "a rerun with the same rows keeps the stamp"
    at = search(at, name.split()[-1])
    searched = lists.rows_data(at, "contacts")["drawn"]
    assert searched > first, (first, searched)
    cleared = lists.rows_data(button(at, "Clear").click().run(), "contacts")["drawn"]
    assert cleared > searched, "the first rows again are newer than the search's: a new stamp"


def test_query_param_opens_a_contact_with_its_conversations(app_as, demo_db):
    maria = demo_user(demo_db, "maria")
    cid, name = demo_db.fetchone(
        "SELECT ct.id, ct.name FROM contacts ct JOIN conversations c ON c.contact_id = ct.id "
        "WHERE c.owner_id = ? AND ct.name IS NOT NULL ORDER BY ct.id LIMIT 1",
        [maria.id],
    )
    at = app_as("maria", PAGE, {"id": cid})
    assert not page_errors(at) and not at.error
    assert name in texts(at, "subheader")[0].replace("\\", "")
    assert at.text_input(key=f"contact_{cid}.name").value == name
    links = [e for e in at.get("page_link")]
    assert links, "each conversation the agent may open is a link to the conversation page"


def test_opt_out_history_shows_the_columns_someone_filled(app_as, demo_db):
    from core.actions import suppression

    admin = demo_user(demo_db, "admin")
    by_stop = demo_db.scalar(
        "SELECT contact_id FROM optout_history WHERE kind = 'opt_out' AND keyword = 'STOP' ORDER BY id LIMIT 1"
    )
    at = app_as("admin", PAGE, {"id": by_stop})
    [history] = [d.value for d in at.dataframe if "What" in d.value.columns]
    assert list(history.columns) == ["When", "What", "Keyword", "Channel"]  # nobody acted, no reason given
    by_hand = suppression.do_add_opt_out(demo_db, admin, "+14155550177", "Asked at the front desk")
    at = app_as("admin", PAGE, {"id": by_hand})
    [history] = [d.value for d in at.dataframe if "What" in d.value.columns]
    assert list(history.columns) == ["When", "What", "By", "Reason"]
    assert history[["What", "Reason"]].values.tolist() == [["Opted out", "Asked at the front desk"]]


def test_bad_id_is_one_sentence(app_as):
    at = app_as("maria", PAGE, {"id": "nope"})
    assert [e.value for e in at.error] == ["“nope” is not a contact number."]


def test_create_a_contact_then_it_opens(app_as, demo_db):
    at = app_as("james", PAGE)
    at.button(key="contacts.new").click().run()
    at.text_input(key="contact_new.name").input("Zoë Test")
    at.text_input(key="contact_new.phone").input("(415) 867-0199")
    at.text_input(key="contact_new.email").input("zoe@example.com")
    button(at, "Save contact").click()
    at.run()
    assert not at.error, [e.value for e in at.error]
    row = demo_db.fetchone("SELECT id, name, search_name FROM contacts WHERE phone = '+14158670199'")
    assert row[1:] == ("Zoë Test", "zoe test")
    assert at.query_params["id"] == str(row[0])
    assert "Zoë Test" in texts(at, "subheader")[0].replace("\\", "")


def test_bad_input_is_shown_as_a_sentence(app_as, demo_db):
    at = app_as("james", PAGE)
    at.button(key="contacts.new").click().run()
    at.text_input(key="contact_new.phone").input("12345")
    button(at, "Save contact").click()
    at.run()
    assert [e.value for e in at.error] == ["“12345” is not a valid phone number."]


def test_duplicate_number_is_refused_with_a_way_to_the_existing_contact(app_as, demo_db):
    cid, name, phone = demo_db.fetchone(
        "SELECT id, name, phone FROM contacts WHERE name IS NOT NULL AND NOT archived ORDER BY id LIMIT 1"
    )
    at = app_as("james", PAGE)
    at.button(key="contacts.new").click().run()
    at.text_input(key="contact_new.phone").input(phone[2:])
    button(at, "Save contact").click()
    at.run()
    assert at.error and name in at.error[0].value
    at.button(key="contact_new.open_existing").click().run()
    assert name in texts(at, "subheader")[0].replace("\\", "")
    assert demo_db.scalar("SELECT count(*) FROM contacts WHERE phone = ?", [phone]) == 1


def test_edit_and_archive_from_the_detail(app_as, demo_db):
    cid = demo_db.scalar("SELECT id FROM contacts WHERE NOT archived ORDER BY id DESC LIMIT 1")
    at = app_as("aiko", PAGE, {"id": cid})
    at.text_input(key=f"contact_{cid}.tags").input("vip, kids")
    button(at, "Save contact").click()
    at.run()
    assert not at.error
    assert demo_db.scalar("SELECT tags FROM contacts WHERE id = ?", [cid]) == "vip, kids"
    at.button(key="contacts.archive").click().run()
    assert demo_db.scalar("SELECT archived FROM contacts WHERE id = ?", [cid]) is True
    at.button(key="contacts.unarchive").click().run()
    assert demo_db.scalar("SELECT archived FROM contacts WHERE id = ?", [cid]) is False


def test_supervisor_reads_but_cannot_change(demo_runtime):
    db = demo_runtime.db
    at = page_as(demo_runtime, "sam")
    assert not page_errors(at) and not at.error
    labels = [b.label for b in at.button]
    assert "New contact" not in labels and "Import CSV" not in labels
    cid = db.scalar("SELECT contact_id FROM conversations ORDER BY id LIMIT 1")
    at = page_as(demo_runtime, "sam", {"id": cid})
    assert "Read-only" in all_text(at)
    assert not at.text_input and "Archive" not in [b.label for b in at.button]


def test_csv_import_flow(app_as, demo_db):
    existing = demo_db.scalar("SELECT phone FROM contacts WHERE NOT opted_out ORDER BY id LIMIT 1")
    data = (
        "First Name,Last Name,Mobile,Other number,Email\n"
        f"Imported,One,(415) 867-0191,,one@example.com\n"
        f"Imported,Two,bad number,4158670192,\n"
        f"Updated,Person,{existing},,\n"
        f"Again,One,415.867.0191,,\n"
    ).encode()
    at = app_as("maria", PAGE)
    at.button(key="contacts.import").click().run()
    at.file_uploader[0].set_value(("contacts.csv", data, "text/csv"))
    at.run()
    assert not page_errors(at) and not at.error
    assert at.selectbox(key="contacts.import.map.phone").value == "Mobile"
    assert at.selectbox(key="contacts.import.map.first_name").value == "First Name"
    at.button(key="contacts.import.go").click().run()
    assert not page_errors(at)
    summary = texts(at, "warning")[0]
    assert summary == "1 created, 1 updated, 2 rejected."
    assert demo_db.scalar("SELECT name FROM contacts WHERE phone = '+14158670191'") == "Imported One"
    assert demo_db.scalar("SELECT name FROM contacts WHERE phone = ?", [existing]) == "Updated Person"
    rejected = next(d.value for d in at.dataframe if "Reason" in d.value.columns)
    assert "Same number as row 2" in " ".join(rejected["Reason"])
    assert at.download_button, "the report can be downloaded"
    # the caller's choice wins over the guess: map the other column and import again
    at.selectbox(key="contacts.import.map.phone").set_value("Other number").run()
    at.button(key="contacts.import.go").click().run()
    assert demo_db.scalar("SELECT name FROM contacts WHERE phone = '+14158670192'") == "Imported Two"


def test_unreadable_upload_is_one_sentence(app_as):
    at = app_as("maria", PAGE)
    at.button(key="contacts.import").click().run()
    at.file_uploader[0].set_value(("book.csv", b"PK\x03\x04zzzz", "text/csv"))
    at.run()
    assert [e.value for e in at.error] == [
        "That is an Excel or zip file, not a CSV; in Excel use “Save as… CSV” and import that."
    ]


@pytest.mark.parametrize("username", ["maria", "admin"])
def test_contact_form_in_a_conversation_saves_an_unknown_number(app_as, demo_db, username):
    """The conversation page's "Save as contact" uses pages/contact_form.py."""
    owner = demo_user(demo_db, "maria")
    sender = demo_db.scalar("SELECT id FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    phone = f.next_phone()
    assert demo_db.scalar("SELECT count(*) FROM contacts WHERE phone = ?", [phone]) == 0
    contact_id = f.add_contact(demo_db, phone=phone)  # a number that wrote in, not saved as a contact
    cid = f.add_conversation(demo_db, contact_id=contact_id, sender_id=sender, owner_id=owner.id)
    at = app_as(username, "pages/conversation.py", {"id": cid})
    key = f"conv_contact_{cid}"
    assert not at.text_input, "the form is drawn only once its popover is open"
    at.session_state[f"conv_contact_popover_{cid}"] = True  # the agent opens "Save as contact"
    at.run()
    assert at.text_input(key=f"{key}.name").value == ""
    assert at.text_input(key=f"{key}.phone").value == phone
    at.text_input(key=f"{key}.name").input("Saved From Chat")
    button(at, "Save contact").click()
    at.run()
    assert not at.error
    # The popover, now "Edit contact", stays open on the saved form.
    assert [s.value for s in at.success] == ["Contact saved."]
    assert at.text_input(key=f"{key}.name").value == "Saved From Chat"
    assert demo_db.scalar("SELECT name FROM contacts WHERE id = ?", [contact_id]) == "Saved From Chat"
    assert demo_db.scalar("SELECT count(*) FROM contacts WHERE phone = ?", [phone]) == 1


def test_clicking_a_contact_row_opens_it_here(workspace):  # noqa: F811
    workspace.user("ana")
    quinn = f.add_contact(workspace.db, name="Quinn Quiet", phone="+14155552001")
    f.add_contact(workspace.db, phone="+14155552002")
    at = workspace.app("ana", PAGE)
    assert [(r["title"], r["text"], r["when"], r["flags"]) for r in listed(at)] == [
        ("Quinn Quiet", "(415) 555-2001", "0 conversations", []),
        ("(415) 555-2002", "", "0 conversations", []),
    ]
    assert lists.rows_data(at, "contacts")["open_event"] is True, "rows open here, not on another page"
    at = lists.send_event(at, "contacts", "open", quinn)
    assert not at.exception
    assert at.query_params["id"] in (str(quinn), [str(quinn)])
    assert "Quinn Quiet" in texts(at, "subheader")[0].replace("\\", "")


def test_a_supervisor_is_told_export_is_for_agents_and_admins(workspace):  # noqa: F811
    workspace.user("sam", role="supervisor")
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=30)
    sign_in_apptest(at, workspace.rt, "sam")
    at.run()
    assert not at.exception
    assert not at.download_button
    assert "Exporting contacts is for agents and admins." in texts(at, "caption")
