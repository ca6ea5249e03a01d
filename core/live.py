"""What changed, for live pages and notifications (in-process).

A database listener bumps version counters after each commit, per user and
per conversation, and keeps a short list of notices (assigned to you, new
message in your inbox). Live fragments compare a counter instead of
re-querying; the browser notification stream waits on the condition.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

from core import events
from core.db import Event

# A contact's name or opt-out shows in every user's lists.
CONTACT_EVENTS = frozenset(name for name in events.ALL if name.startswith(("contact.", "contacts.")))


@dataclass(frozen=True)
class Notice:
    id: int
    user_id: int
    kind: str  # 'assigned' | 'message'
    conversation_id: int | None
    text: str
    at: dt.datetime | None


class ChangeFeed:
    def __init__(self, keep: int = 2000) -> None:
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.version = 0
        self._user_versions: dict[int, int] = defaultdict(int)
        self._everyone = 0  # the last change that shows in every user's lists (a contact's name, opt-out)
        self._conversation_versions: dict[int, int] = defaultdict(int)
        self._notices: deque[Notice] = deque(maxlen=keep)

    def on_event(self, event: Event) -> None:
        payload = event.payload
        with self._cond:
            self.version += 1
            if event.name in CONTACT_EVENTS:
                self._everyone = self.version
            for key in ("user_id", "from_user_id", "owner_id"):
                if payload.get(key) is not None:
                    self._user_versions[int(payload[key])] = self.version
            if payload.get("conversation_id") is not None:
                self._conversation_versions[int(payload["conversation_id"])] = self.version
            for conversation_id in payload.get("conversation_ids") or ():  # many moved at once
                self._conversation_versions[int(conversation_id)] = self.version
            notice = self._notice_for(event)
            if notice is not None:
                self._notices.append(notice)
            self._cond.notify_all()

    def _notice_for(self, event: Event) -> Notice | None:
        p = event.payload
        if event.name == events.CONVERSATION_ASSIGNED and p.get("user_id") is not None:
            who = p.get("contact_name") or "a contact"
            return Notice(
                next(self._ids),
                int(p["user_id"]),
                "assigned",
                p.get("conversation_id"),
                f"Conversation with {who} was assigned to you.",
                event.at,
            )
        if event.name == events.CONVERSATIONS_REASSIGNED and p.get("user_id") is not None:
            n = int(p.get("count") or 0)
            whose = f" of {p['from_name']}" if p.get("from_name") else ""
            return Notice(
                next(self._ids),
                int(p["user_id"]),
                "assigned",
                None,
                f"{n} conversation{'s' if n != 1 else ''}{whose} {'were' if n != 1 else 'was'} assigned to you.",
                event.at,
            )
        if event.name == events.MESSAGE_RECEIVED and p.get("owner_id") is not None:
            who = p.get("contact_name") or "a contact"
            return Notice(
                next(self._ids),
                int(p["owner_id"]),
                "message",
                p.get("conversation_id"),
                f"New message from {who}.",
                event.at,
            )
        return None

    def user_version(self, user_id: int) -> int:
        return max(self._user_versions.get(user_id, 0), self._everyone)

    def notify_version(self, user_id: int) -> int:
        """Moves with what ``user_id``'s notifications show (unread count, notices: events naming
        this user), not with changes every user's lists show (a contact's name): a burst of
        messages from new numbers creates contacts, and must not wake every open tab's
        notifications."""
        return self._user_versions.get(user_id, 0)

    def conversation_version(self, conversation_id: int) -> int:
        return self._conversation_versions.get(conversation_id, 0)

    def last_notice_id(self) -> int:
        with self._cond:
            return self._notices[-1].id if self._notices else 0

    def notices_for(self, user_id: int, after_id: int) -> list[Notice]:
        with self._cond:
            return [n for n in self._notices if n.user_id == user_id and n.id > after_id]

    def wait(self, since_version: int, timeout: float) -> int:
        """Block until the global version passes ``since_version`` (or timeout)."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > since_version, timeout=timeout)
            return self.version

    def wait_for_notify(self, user_id: int, since_version: int, timeout: float) -> int:
        """Block until ``notify_version(user_id)`` passes ``since_version`` (or timeout): other
        users' changes, and contacts created or renamed, do not wake the caller (a burst of
        webhooks for the team must not make every open page's notification stream spin)."""
        with self._cond:
            self._cond.wait_for(lambda: self.notify_version(user_id) > since_version, timeout=timeout)
            return self.notify_version(user_id)
