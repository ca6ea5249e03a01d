"""The messages of one conversation: date headers, bubbles, status, media, live.

Message bodies are user input: they are shown with ``st.text`` (no Markdown,
no HTML). Everything else that carries user or provider text (file names,
content types, authors, provider errors) goes through ``esc``/``md``
(``pages/text.py``) before it reaches Markdown. The thread lives in a fragment
that re-runs every two seconds; it reloads from ``core`` only when the
change feed or the thread fingerprint moved, and redraws from the cached
copy otherwise.
"""

from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from core import clock, media_access, media_rules, queries
from core.actions import messaging
from core.auth import User
from core.errors import ParleyError
from pages.common import STATUS_ICONS, fmt_time
from pages.session import guarded
from pages.text import Markdown, esc, md

LIVE_SECONDS = 2
# A bubble's content sits in a keyed container (class ``st-key-msgout-…`` or
# ``st-key-msgin-…``); this static CSS (no user data) mirrors outgoing
# bubbles to the right, like a phone's messaging app.
THREAD_CSS = """<style>
div[data-testid="stChatMessage"]:has(div[class*="st-key-msgout-"]) {
  flex-direction: row-reverse; width: 85%; margin-left: auto; background: rgba(28, 131, 225, 0.08);
}
div[data-testid="stChatMessage"]:has(div[class*="st-key-msgin-"]) { width: 85%; }
</style>"""


def zone(user: User) -> ZoneInfo:
    try:
        return ZoneInfo(user.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(value: dt.datetime, user: User) -> dt.datetime:
    """A stored naive-UTC time in the viewer's zone."""
    return value.replace(tzinfo=dt.UTC).astimezone(zone(user))


def clock_time(value: dt.datetime) -> str:
    return value.strftime("%I:%M %p").lstrip("0")


def date_header(day: dt.date, user: User) -> str:
    today = dt.datetime.now(zone(user)).date()
    if day == today:
        return "Today"
    if day == today - dt.timedelta(days=1):
        return "Yesterday"
    return f"{day:%A, %B} {day.day}, {day.year}"


STATUS_LINES = {  # our Markdown; {reason} is the provider's words, escaped by md()
    "sent": ("{icon} Sent", ""),
    "delivered": ("{icon} Delivered", ""),
    "read": ("{icon} :blue[Read]", ""),
    "not_sent": ("{icon} :red[Not sent: {reason}]", "blocked"),
    "interrupted": ("{icon} :red[Interrupted — we don't know if it was sent]", ""),
    "failed": ("{icon} :red[Failed: {reason}]", "the provider reported a failure"),
    "undelivered": ("{icon} :red[Undelivered: {reason}]", "the carrier could not deliver it"),
}


def status_line(msg: dict, user: User) -> Markdown:
    """Markdown for an outgoing message's status (DESIGN.md status icons)."""
    status = msg["status"]
    icon = Markdown(STATUS_ICONS.get(status, "•"))  # ours: colour directives around an icon
    if status in ("queued", "sending"):
        if msg.get("release_at") and msg["release_at"] > clock.utcnow():
            return md("{icon} Queued until {when}", icon=icon, when=fmt_time(msg["release_at"], user.timezone))
        return md("{icon} Sending", icon=icon) if status == "sending" else md("{icon} Queued", icon=icon)
    template, fallback = STATUS_LINES.get(status, ("{icon} {status}", ""))
    reason = msg.get("error_reason") or msg.get("error_code") or fallback
    return md(template, icon=icon, reason=reason, status=status)


def _size(n: int | None) -> str:
    n = n or 0
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{max(1, n // 1000)} KB"


def _media_bytes(rt, user: User, media_id: int) -> bytes:
    return media_access.read_media(rt, user, media_id)[0]


def _image_bytes(rt, user: User, media_id: int) -> bytes | None:
    """Image bytes, kept per session so the live re-runs do not re-read the file."""
    cache = st.session_state.setdefault("_thread_images", {})
    if media_id not in cache:
        try:
            cache[media_id] = _media_bytes(rt, user, media_id)
        except (ParleyError, OSError):
            cache[media_id] = None
    return cache[media_id]


def render_media(rt, user: User, items: list[dict]) -> None:
    for item in items:
        kind = media_rules.media_kind(item["content_type"])
        name = item["filename"] or "attachment"
        if kind in ("image", "sticker"):
            data = _image_bytes(rt, user, item["id"])
            if data:
                st.image(data, width=260, caption=esc(name))
                continue
            st.caption(md("🖼️ {name} (file missing)", name=name))
            continue
        icon = {"audio": "🎵", "video": "🎬"}.get(kind, "📎")
        st.download_button(
            md(
                "{icon} {name} · {kind} · {size}",
                icon=icon,
                name=name,
                kind=item["content_type"],
                size=_size(item.get("size")),
            ),
            data=functools.partial(_media_bytes, rt, user, item["id"]),
            file_name=name,
            mime=item["content_type"],
            on_click="ignore",
            key=f"media_{item['id']}",
            icon=":material/download:",
        )


def _retry(rt, user: User, message_id: int) -> None:
    try:
        messaging.do_retry(rt.db, user, message_id)
        st.session_state["thread_notice"] = ("success", "Queued again.")
    except ParleyError as exc:
        st.session_state["thread_notice"] = ("error", str(exc))


def render_message(rt, user: User, msg: dict, media: list[dict], can_write: bool) -> None:
    incoming = msg["direction"] == "in"
    if incoming:
        name, avatar = "contact", "👤"
    elif msg.get("campaign_id"):
        name, avatar = "campaign", "🏢"
    elif msg.get("author_name"):
        name, avatar = msg["author_name"], None  # Streamlit shows the initial
    else:
        name, avatar = "parley", "🏢"
    with (
        st.chat_message(name, avatar=avatar),
        st.container(key=f"{'msgin' if incoming else 'msgout'}-{msg['id']}", gap="small"),
    ):
        if msg.get("body"):
            st.text(msg["body"])
        if media:
            render_media(rt, user, media)
        at = clock_time(local(msg["created_at"], user))
        if incoming:
            st.caption(esc(at))
            return
        who = "Campaign" if msg.get("campaign_id") else (msg.get("author_name") or "Parley")
        st.caption(md("{at} · {who} · {status}", at=at, who=who, status=status_line(msg, user)))
        if can_write and msg["status"] in ("interrupted", "failed"):
            st.button(
                "Retry",
                key=f"retry_{msg['id']}",
                icon=":material/refresh:",
                type="tertiary",
                on_click=guarded(_retry),
                args=(rt, user, msg["id"]),
                help="Send this message again; if the first try did arrive, it arrives twice.",
            )


def _load(rt, user: User, cid: int, limit: int) -> queries.Thread:
    return queries.thread(rt.db, user, cid, limit=limit)


def render(rt, user: User, cid: int, *, can_write: bool, on_change=guarded(None)) -> None:
    """The live thread. ``on_change(thread)`` runs when something new arrived."""
    st.html(THREAD_CSS)
    limit_key = f"thread_limit_{cid}"
    st.session_state.setdefault(limit_key, queries.THREAD_PAGE)

    @st.fragment(run_every=LIVE_SECONDS)
    def live() -> None:
        version = (rt.feed.conversation_version(cid), queries.thread_version(rt.db, cid), st.session_state[limit_key])
        cached = st.session_state.get("_thread_cache")
        if cached is None or cached[0] != (cid, version):
            try:
                thread = _load(rt, user, cid, st.session_state[limit_key])
            except ParleyError as exc:  # e.g. reassigned away from this agent meanwhile
                st.error(esc(exc))
                return
            changed = cached is not None and cached[0][0] == cid
            st.session_state["_thread_cache"] = ((cid, version), thread)
            if changed and on_change is not None:
                on_change(thread)
        thread = st.session_state["_thread_cache"][1]
        draw(rt, user, thread, limit_key, can_write)

    live()


def draw(rt, user: User, thread: queries.Thread, limit_key: str, can_write: bool) -> None:
    notice = st.session_state.pop("thread_notice", None)
    box = st.container(height=560, border=True, key="thread_box")
    with box:
        if thread.has_older:
            st.button(
                "Load older messages",
                key="load_older",
                icon=":material/history:",
                on_click=guarded(
                    lambda: st.session_state.update({limit_key: st.session_state[limit_key] + queries.THREAD_PAGE})
                ),
            )
        if not thread.messages:
            st.caption("No messages yet.")
        day = None
        for msg in thread.messages:
            this_day = local(msg["created_at"], user).date()
            if this_day != day:
                day = this_day
                st.caption(md("**{day}**", day=date_header(day, user)), text_alignment="center")
            render_message(rt, user, msg, thread.media.get(msg["id"], []), can_write)
    if notice:
        getattr(st, notice[0])(esc(notice[1]))
