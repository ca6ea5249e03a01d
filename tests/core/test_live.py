"""The change feed behind live pages: whose lists changed, and the notices each user gets."""

from __future__ import annotations

from core.db import Event
from core.live import ChangeFeed


def event(name, **payload):
    return Event(name=name, payload=payload)


def test_a_change_reaches_the_owner_whoever_made_it():
    feed = ChangeFeed()
    before = feed.user_version(7)
    feed.on_event(event("conversation.closed", conversation_id=1, actor_id=1, owner_id=7))
    assert feed.user_version(7) > before
    assert feed.user_version(8) == before  # other agents' lists are untouched
    assert feed.conversation_version(1) == feed.version


def test_assignment_reaches_both_owners_and_notifies_the_new_one_by_name():
    feed = ChangeFeed()
    feed.on_event(
        event(
            "conversation.assigned", conversation_id=3, user_id=8, from_user_id=7, actor_id=1, contact_name="Zoë Ávila"
        )
    )
    assert feed.user_version(7) == feed.user_version(8) == feed.version
    [notice] = feed.notices_for(8, 0)
    assert (notice.kind, notice.conversation_id, notice.text) == (
        "assigned",
        3,
        "Conversation with Zoë Ávila was assigned to you.",
    )
    assert feed.notices_for(7, 0) == []


def test_a_new_message_notifies_its_owner_once():
    feed = ChangeFeed()
    feed.on_event(event("message.received", conversation_id=4, owner_id=7, user_id=7, contact_name="Omar"))
    [notice] = feed.notices_for(7, 0)
    assert notice.text == "New message from Omar."
    assert feed.notices_for(7, notice.id) == []


def test_a_contact_change_shows_in_every_users_lists():
    feed = ChangeFeed()
    feed.on_event(event("message.received", conversation_id=4, owner_id=7, user_id=7))
    mine = feed.user_version(7)
    feed.on_event(event("contact.updated", contact_id=5, actor_id=1))  # a name shown in anyone's inbox
    assert feed.user_version(7) > mine and feed.user_version(8) == feed.version


def test_a_notification_stream_wakes_for_its_user_not_for_everyone_elses_changes():
    """Issue 18 (load): a webhook burst for other agents, or from new numbers (each creates a
    contact, which every user's lists show), must not spin an open page's notifications."""
    import threading

    feed = ChangeFeed()
    woke = []

    def wait() -> None:
        woke.append(feed.wait_for_notify(7, feed.notify_version(7), timeout=30))

    waiter = threading.Thread(target=wait)
    waiter.start()
    for n in range(200):  # the rest of the team's traffic, and new customers writing in
        feed.on_event(event("message.received", conversation_id=100 + n, owner_id=8, user_id=8))
        feed.on_event(event("contact.created", contact_id=500 + n))
    assert waiter.is_alive() and woke == []
    assert feed.notify_version(7) == 0 and feed.user_version(7) == feed.version  # the lists did change
    feed.on_event(event("message.received", conversation_id=4, owner_id=7, user_id=7))
    waiter.join(30)
    assert woke == [401] and feed.notify_version(7) == 401
