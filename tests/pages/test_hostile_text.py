"""People's text stays text on every page: a name or file name written in Markdown renders literally.

One hostile string is used as a contact's name, an agent's display name, a sender's label, a
file name, a provider's error and an opt-out request, then every page that exists is opened
(sign-in sidebar, My Inbox, Sent Messages, Team Inbox, Conversation header, thread, composer
and contact form, Contacts). Everything Streamlit renders as Markdown on those pages (text,
captions, alerts, toasts, headers, widget labels, image captions, help) is collected from the
element tree: the raw string's Markdown (bold, a javascript: link, an image from another host)
never appears, and where the name is shown it is in its escaped form. The browser test
(``tests/e2e/test_hostile_text.py``) checks what a browser makes of it.
"""

from __future__ import annotations

import io
from collections.abc import MutableMapping

import pytest
from PIL import Image

from core import clock, events, runtime
from pages import bulk
from tests import factories as f
from tests.conftest import demo_user
from tests.pages import lists

HOSTILE = "**x** [y](javascript:alert(1)) ![t](http://127.0.0.1:9/t)"
# The same, as Markdown that shows exactly those characters (an invisible word joiner after
# "http" stops the bare-link finder, which runs after escapes are resolved).
HOSTILE_MD = "\\*\\*x\\*\\* \\[y\\](javascript\\:alert(1)) !\\[t\\](http\u2060\\://127.0.0.1:9/t)"
ACTIVE = ("**x**", "[y](", "![t](", "javascript:", "http://")

# Element types whose strings are not Markdown (shown literally, or ours alone).
LITERAL_TYPES = {"text", "code", "html", "arrow_data_frame", "dataframe", "json", "exception"}
# Proto fields that hold what the user reads as Markdown.
MARKDOWN_FIELDS = {"label", "body", "caption", "help", "text"}
# Widgets whose options are plain text (selectbox) are not Markdown; radio/pills/segmented ones are.
MARKDOWN_OPTION_TYPES = {"radio", "button_group"}


def _strings(message, path=""):
    """(field path, value) of every string in a protobuf message, recursively."""
    for descriptor, value in message.ListFields():
        name = descriptor.name
        if descriptor.type == descriptor.TYPE_MESSAGE:
            items = value if descriptor.is_repeated else [value]
            for item in items:
                yield from _strings(item, f"{path}{name}.")
        elif descriptor.type == descriptor.TYPE_STRING:
            items = value if descriptor.is_repeated else [value]
            for item in items:
                yield f"{path}{name}", item


def markdown_sinks(at) -> list[tuple[str, str]]:
    """(element type, text) of everything on the page that Streamlit renders as Markdown."""
    found = []

    def walk(node):
        for child in getattr(node, "children", {}).values():
            walk(child)
        proto = getattr(node, "proto", None)
        kind = getattr(node, "type", "")
        if proto is None or kind in LITERAL_TYPES or not hasattr(proto, "ListFields"):
            return
        for path, value in _strings(proto):
            leaf = path.rsplit(".", 1)[-1]
            if leaf in MARKDOWN_FIELDS or (leaf == "options" and kind in MARKDOWN_OPTION_TYPES):
                found.append((kind, value))

    walk(at._tree)
    return found


def assert_literal(at, *, shown_in: int = 1) -> list[str]:
    """No Markdown of the hostile string is live anywhere; its escaped form shows ``shown_in``+ times."""
    assert not at.exception, [e.value for e in at.exception]
    sinks = markdown_sinks(at)
    assert sinks, "the page rendered nothing to check"
    live = [(kind, text) for kind, text in sinks if any(a in text for a in ACTIVE)]
    assert live == []
    shown = [text for _, text in sinks if HOSTILE_MD in text]
    assert len(shown) >= shown_in, [t for _, t in sinks]
    return shown


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def hostile(demo_runtime):
    """A workspace where a hostile string is everywhere people's text can be."""
    db = demo_runtime.db
    f.always_open(db)
    maria, james = demo_user(db, "maria"), demo_user(db, "james")
    db.write(lambda tx: tx.execute("UPDATE users SET display_name = ? WHERE id = ?", [HOSTILE, maria.id]))
    wa = f.add_sender(db, channel="whatsapp", phone="+14155550177", label=HOSTILE)
    sms = db.scalar("SELECT id FROM senders WHERE channel = 'sms' ORDER BY id LIMIT 1")
    named = f.add_contact(db, name=HOSTILE)
    conv = f.add_conversation(
        db, contact_id=named, sender_id=wa, owner_id=maria.id, last_inbound_at=clock.utcnow(), inbound_body=HOSTILE
    )
    image_sha, doc_sha = demo_runtime.media.put(png()), demo_runtime.media.put(b"%PDF-1.4 hostile")

    def write(tx):
        inbound = tx.scalar("SELECT id FROM messages WHERE conversation_id = ?", [conv])
        now = clock.utcnow()
        tx.execute("UPDATE messages SET has_media = TRUE WHERE id = ?", [inbound])
        tx.execute(
            "INSERT INTO media (message_id, sha256, content_type, filename, size, token, created_at) VALUES "
            "(?, ?, 'image/png', ?, 70, 'tok-hostile-1', ?), (?, ?, ?, ?, 16, 'tok-hostile-2', ?)",
            [inbound, image_sha, HOSTILE + ".png", now, inbound, doc_sha, "application/pdf", HOSTILE + ".pdf", now],
        )
        tx.execute(
            "INSERT INTO messages (conversation_id, contact_id, sender_id, direction, author_id, body, status, "
            "error_code, error_reason, created_at, status_at) VALUES (?, ?, ?, 'out', ?, 'Hello', 'failed', "
            "'131026', ?, ?, ?)",
            [conv, named, wa, maria.id, HOSTILE, now, now],
        )
        tx.execute("UPDATE conversations SET optout_flag = ? WHERE id = ?", [HOSTILE, conv])

    db.write(write)
    gone = f.add_contact(db, name=HOSTILE, opted_out=True)
    blocked = f.add_conversation(db, contact_id=gone, sender_id=sms, owner_id=maria.id)
    theirs = f.add_conversation(db, contact_id=f.add_contact(db, name="Plain Name"), sender_id=sms, owner_id=james.id)
    return {"conv": conv, "blocked": blocked, "theirs": theirs, "contact": named, "maria": maria}


class State(MutableMapping):
    """AppTest's session state as a mapping, for driving a dialog's callback (AppTest cannot click in dialogs)."""

    def __init__(self, at):
        self.s = at.session_state

    def __getitem__(self, key):
        return self.s[key]

    def __setitem__(self, key, value):
        self.s[key] = value

    def __delitem__(self, key):
        del self.s[key]

    def __iter__(self):
        return iter(self.s.filtered_state)

    def __len__(self):
        return len(self.s.filtered_state)


def test_the_escaped_form_is_what_esc_makes():
    from pages.text import esc

    assert esc(HOSTILE) == HOSTILE_MD


def test_sign_in_sidebar_shows_the_name_as_written(app_as, hostile):
    at = app_as("maria")
    assert any(HOSTILE_MD in m.value for m in at.sidebar.markdown)
    assert_literal(at)


def test_my_inbox(app_as, hostile):
    at = app_as("maria", "pages/my_inbox.py")
    assert_literal(at)
    # The row list sets every string with textContent: the name goes over as typed.
    assert HOSTILE in [r["title"] for r in lists.rows(at, "mine")]
    at.segmented_control(key="mine.status").set_value("Closed").run()
    at.text_input(key="mine.q_input").input(HOSTILE)
    next(b for b in at.button if b.label == "Search").click().run()
    [shown] = [s for s in assert_literal(at) if s.startswith("No closed conversations match")]
    assert shown == f"No closed conversations match “{HOSTILE_MD}”."


def test_sent_messages(app_as, hostile):
    at = app_as("maria", "pages/sent_messages.py")
    assert not at.exception
    assert HOSTILE in [r["title"] for r in lists.rows(at, "sent")]
    at.text_input(key="sent.q_input").input(HOSTILE + " nobody")
    next(b for b in at.button if b.label == "Search").click().run()
    [shown] = [s for s in assert_literal(at) if s.startswith("No sent messages match")]
    assert shown == f"No sent messages match “{HOSTILE_MD} nobody”."


def test_team_inbox_and_the_assignment_toast(app_as, hostile):
    at = app_as("admin", "pages/team_inbox.py")
    assert not at.exception
    assert HOSTILE in [r["owner"] for r in lists.rows(at, "team")]
    state = State(at)
    state["team.sel"] = [hostile["theirs"]]
    state["team.assign"] = {"ids": [hostile["theirs"]]}
    state["team.assign_to"] = hostile["maria"].id
    bulk.assign_selected("team", demo_user(runtime.current().db, "admin").id, state)
    at.run()
    toasts = [t.value for t in at.toast]
    assert toasts == [f"Assigned 1 conversation to {HOSTILE_MD}."]
    assert_literal(at)


def test_conversation_header_thread_and_contact_form(app_as, hostile):
    at = app_as("maria", "pages/conversation.py", {"id": hostile["conv"]})
    shown = assert_literal(at, shown_in=6)
    assert at.subheader[0].value == HOSTILE_MD
    assert f"via {HOSTILE_MD} · owner: {HOSTILE_MD}" in at.caption[0].value
    assert f"Possible opt-out request: “{HOSTILE_MD}”" in [w.value for w in at.warning]
    assert any(s.startswith("📎 " + HOSTILE_MD + ".pdf · application/pdf · ") for s in shown)  # the download label
    assert [text for kind, text in markdown_sinks(at) if kind == "image"] == [HOSTILE_MD + ".png"]  # its caption
    assert any(f"{HOSTILE_MD} · :red[⚠] :red[Failed — {HOSTILE_MD} (error 131026)]" in s for s in shown)
    # The contact form (drawn once its popover is open) edits the name as typed: a text field is literal.
    at.session_state[f"conv_contact_popover_{hostile['conv']}"] = True
    at.run()
    assert at.text_input(key=f"conv_contact_{hostile['conv']}.name").value == HOSTILE


def test_conversation_seen_by_an_admin_names_the_owner_literally(app_as, hostile):
    at = app_as("admin", "pages/conversation.py", {"id": hostile["conv"]})
    shown = assert_literal(at)
    assert f":blue-badge[Unread for {HOSTILE_MD}]" in shown


def test_composer_opt_out_warning_quotes_the_name_literally(app_as, hostile):
    at = app_as("maria", "pages/conversation.py", {"id": hostile["blocked"]})
    shown = assert_literal(at)
    assert f"{HOSTILE_MD} has opted out (replied STOP): nothing can be sent until they reply START." in shown, shown


def test_contacts_page_detail_links_and_duplicate(app_as, hostile):
    at = app_as("maria", "pages/contacts.py", {"id": hostile["contact"]})
    db = runtime.current().db
    assert_literal(at, shown_in=2)
    assert at.subheader[0].value == HOSTILE_MD
    links = [link.proto.label for link in at.get("page_link")]
    assert any(f"· {HOSTILE_MD} · {HOSTILE_MD} ·" in label for label in links), links  # sender and owner
    phone = db.scalar("SELECT phone FROM contacts WHERE id = ?", [hostile["contact"]])
    at = app_as("maria", "pages/contacts.py")
    at.button(key="contacts.new").click().run()
    at.text_input(key="contact_new.phone").input(phone)
    next(b for b in at.button if b.label == "Save contact").click()
    at.run()
    assert_literal(at, shown_in=2)
    assert at.error[0].value.endswith(f"already belongs to {HOSTILE_MD}; open that contact to edit it.")
    assert at.button(key="contact_new.open_existing").label == f"Open {HOSTILE_MD}"


def test_a_notification_toast_names_the_contact_literally(app_as, hostile):
    at = app_as("maria", "pages/my_inbox.py")
    db = runtime.current().db
    db.write(
        lambda tx: tx.publish(
            events.MESSAGE_RECEIVED,
            conversation_id=hostile["conv"],
            owner_id=hostile["maria"].id,
            contact_name=HOSTILE,
        )
    )
    at.run()
    assert [t.value for t in at.toast] == [f"New message from {HOSTILE_MD}."]
    assert_literal(at)
