"""The messages of one conversation: date headers, bubbles, status, media, live.

Message bodies are user input: they are shown with ``st.text`` (no Markdown,
no HTML). Everything else that carries user or provider text goes through
``esc``/``md`` before it reaches Markdown. The thread lives in a fragment
that reruns only when the browser's watcher (``pages.live_watch``) sees the
conversation's version move (one primary-key read every two seconds, asked
by the browser) or a redraw come due; it then calls ``conversation_view``
again, or redraws from the copy in the session when a click reran it. What a
status is called and which messages may be retried is core's
(``core.labels``, ``core.conversation_view``); a queued bubble says why it
waits and until when (``pages.format.queued_text``).

The thread is the page's one scroll area (``thread_box``, stretched to the
window by ``pages.layout.screen_page``): it opens at its newest message at
once and stays there while the agent is there, and scrolling to its top
loads the page of older messages before, keeping the agent's place (both
``pages.older_messages``; Streamlit's autoscroll would glide instead).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import streamlit as st

from core import clock, media_access, media_rules, media_sniff, versions
from core.actions import messaging
from core.auth import User
from core.conversation_view import (
    THREAD_PAGE,
    ConversationView,
    conversation_view,
    finish_open_later,
    version_to_watch,
)
from core.errors import ParleyError
from pages import live_watch, navigate, run_log
from pages.format import STATUS_ICONS, file_size, fmt_time, queued_text
from pages.older_messages import older_messages
from pages.session import SESSION_KEY, fragment_user, guarded
from pages.text import Markdown, esc, md

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


def status_line(msg: dict, user: User) -> Markdown:
    """Markdown for an outgoing message's status (DESIGN.md status icons), in core's words."""
    text = msg["status_text"]
    waiting = queued_text(msg, user.timezone)  # "🕓 Queued — outside business hours, goes at 8:00 AM"
    if waiting is not None:
        return md("{waiting}", waiting=waiting)
    icon = Markdown(STATUS_ICONS.get(text.status, "•"))  # ours: colour directives around an icon
    if text.until is not None:
        when = fmt_time(text.until, user.timezone)
        if text.reason:  # the provider is down or busy: core keeps trying
            return md(
                "{icon} {words} — {reason}, retrying at {when}",
                icon=icon,
                words=text.words,
                reason=text.reason,
                when=when,
            )
        return md("{icon} {words} until {when}", icon=icon, words=text.words, when=when)
    if text.problem:
        return md("{icon} :red[{words} — {reason}]", icon=icon, words=text.words, reason=text.reason)
    if text.status == "read":
        return md("{icon} :blue[{words}]", icon=icon, words=text.words)
    return md("{icon} {words}", icon=icon, words=text.words)


def _media_bytes(rt, user: User, media_id: int) -> bytes:
    return media_access.read_media(rt, user, media_id)[0]


def _download_bytes(rt, session_id, media_id: int) -> bytes:
    """A download button's file, read on the click (outside any page run): for the session that drew it, if still live."""
    return media_access.read_media_for_session(rt, session_id, media_id)[0]


IMAGES_KEPT_BYTES = 32_000_000  # per session: the pictures of the conversations seen last


def _image_bytes(rt, user: User, media_id: int) -> bytes | None:
    """Image bytes, kept per session so the live re-runs do not re-read the file: None when the
    file is missing, b"" when it is not a picture whatever its type says (then it is a download).
    Only the most recently shown pictures are kept, up to ``IMAGES_KEPT_BYTES``: a session that
    opens conversation after conversation of photos must not hold every one it ever showed."""
    cache = st.session_state.setdefault("_thread_images", {})
    if media_id in cache:
        cache[media_id] = cache.pop(media_id)  # shown again: the most recent
        return cache[media_id]
    try:
        data = _media_bytes(rt, user, media_id)
    except (ParleyError, OSError):
        data = None
    else:
        data = data if media_sniff.is_picture(data) else b""
    cache[media_id] = data
    kept = sum(len(v or b"") for v in cache.values())
    for oldest in list(cache):  # oldest first (a dict keeps insertion order); this one stays
        if kept <= IMAGES_KEPT_BYTES or oldest == media_id:
            break
        kept -= len(cache.pop(oldest) or b"")
    return data


def render_media(rt, user: User, items: list[dict]) -> None:
    for item in items:
        kind = media_rules.media_kind(item["content_type"])
        name = item["filename"] or "attachment"
        if kind in ("image", "sticker"):
            data = _image_bytes(rt, user, item["id"])
            if data:
                st.image(data, width=260, caption=esc(name))
                continue
            if data is None:
                st.caption(md("🖼️ {name} (file missing)", name=name))
                continue
            # Not a picture, whatever it claims: offered as a plain download, like any file.
        icon = {"audio": "🎵", "video": "🎬"}.get(kind, "📎")
        # Saved under the sender's file name, or what it is and when it came (never a media id);
        # the label shows the sender's name as they wrote it, or that descriptive one.
        saved_as = media_rules.download_name(item["filename"], item["content_type"], item["created_at"], user.timezone)
        name = name if media_rules.names_itself(item["filename"]) else saved_as
        st.download_button(
            md(
                "{icon} {name} · {kind} · {size}",
                icon=icon,
                name=name,
                kind=item["content_type"],
                size=file_size(item.get("size")),
            ),
            data=functools.partial(_download_bytes, rt, st.session_state.get(SESSION_KEY), item["id"]),
            file_name=saved_as,
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


def render_message(rt, user: User, msg: dict, media: list[dict]) -> None:
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
            problem = msg["status_text"].reason  # an attachment that could not be downloaded, and why
            st.caption(md("{at} · :red[⚠ {problem}]", at=at, problem=problem) if problem else esc(at))
            return
        who = "Campaign" if msg.get("campaign_id") else (msg.get("author_name") or "Parley")
        st.caption(md("{at} · {who} · {status}", at=at, who=who, status=status_line(msg, user)))
        if msg["retryable"]:
            st.button(
                "Retry",
                key=f"retry_{msg['id']}",
                icon=":material/refresh:",
                type="tertiary",
                on_click=guarded(_retry),
                args=(rt, user, msg["id"]),
                help="Send this message again; if the first try did arrive, it arrives twice.",
            )


VIEW_KEY = "_conversation_view"


def remember(view: ConversationView, limit: int) -> None:
    """The view the page was drawn from: the live fragment compares its version."""
    st.session_state[VIEW_KEY] = (view.conversation_id, limit, view)


# Set while a run of the whole page draws the thread and then the composer: the mark-read of a
# conversation opened unread waits for both (``mark_read_after``). Inside the thread it came before
# the composer, and while webhooks poured in that write waited up to a second for the write path
# with the thread on screen and no composer under it (bench_many_users). A run of the thread alone
# (the live watcher's) marks it read itself, once drawn. Either way the write is made after the
# run, on the page writer's thread (``core.page_writes``): the run ends without waiting for it.
PAGE_MARKS_KEY = "thread_view.page_marks_read"


@contextlib.contextmanager
def mark_read_after(rt, user: User, cid: int):
    """Around the page's thread and composer: then, the deferred mark-read of the view the thread
    was drawn from, handed to the page writer. A run cut short (a rerun, a stop) marks nothing:
    the next run reads it unread again and marks it."""
    st.session_state[PAGE_MARKS_KEY] = cid
    try:
        yield
    finally:
        st.session_state.pop(PAGE_MARKS_KEY, None)
    shown = st.session_state.get(VIEW_KEY)
    if shown and shown[0] == cid:
        finish_open_later(rt.db, user, shown[2], rt.page_writes.submit)


def render(rt, user: User, view: ConversationView, *, page_path: str, on_header_change=None) -> None:
    """The live thread, starting from ``view``. ``on_header_change()`` runs when a reload
    changed what the header or the composer show (opt-out, window, owner, closed). Once the
    page ``page_path`` asked to be left (``pages.navigate``), a timed run reads nothing (it
    would mark read again the conversation just marked unread)."""
    st.html(THREAD_CSS)
    cid = view.conversation_id
    limit_key = f"thread_limit_{cid}"
    st.session_state.setdefault(limit_key, THREAD_PAGE)

    @st.fragment
    def live() -> None:
        viewer = fragment_user(rt, user)  # "load older" and the live watcher rerun only this
        if navigate.pending(page_path):
            return
        with run_log.logged_run(f"fragment thread {cid}"):
            _live(rt, viewer, cid, limit_key, on_header_change)

    live()


def _live(rt, user: User, cid: int, limit_key: str, on_header_change) -> None:
    """One run of the live thread: read it again if its version moved, draw it, watch it."""
    limit = st.session_state[limit_key]
    shown = st.session_state.get(VIEW_KEY)
    current = shown[2] if shown and shown[0] == cid else None
    stale = (
        current is None
        or shown[1] != limit
        or versions.conversation_version(rt.db, cid) != current.version
        or (current.refresh_at is not None and clock.utcnow() >= current.refresh_at)
    )
    if stale:
        try:
            fresh = conversation_view(rt.db, user, cid, limit=limit, defer_mark=True)
        except ParleyError as exc:  # e.g. reassigned away from this agent meanwhile
            st.error(esc(exc))
            return
        remember(fresh, limit)
        if current is not None and fresh.header != current.header and on_header_change is not None:
            on_header_change()
        current = fresh
    draw(rt, user, current, limit_key)
    if st.session_state.get(PAGE_MARKS_KEY) == cid:
        # The page marks it read once its composer is drawn too: watched from the version
        # that write will make.
        version = version_to_watch(current)
    else:
        # The owner opened it unread: marked read now that the thread is on screen (a write
        # the agent need not wait for, made after this run), and watched from the version that
        # write will make.
        version = finish_open_later(rt.db, user, current, rt.page_writes.submit)
    # Reruns this fragment when the conversation's version moves (pages/live_watch.py): no
    # redraw of the whole thread every two seconds while nothing changed.
    live_watch.watch(
        f"thread_watch_{cid}",
        f"/api/conversations/{cid}/version",
        version,
        refresh_at=current.refresh_at,
    )


def _more(limit_key: str) -> None:
    """The agent scrolled to the top: one more page of older messages."""
    st.session_state[limit_key] = st.session_state.get(limit_key, THREAD_PAGE) + THREAD_PAGE


def draw(rt, user: User, thread: ConversationView, limit_key: str) -> None:
    notice = st.session_state.pop("thread_notice", None)
    # A fixed height makes it a scroll area, which the page's frame stretches to the window
    # (pages.layout.SCREEN_CSS). Our component keeps it at the newest message
    # (pages/older_messages.py): Streamlit's autoscroll would glide there after every open.
    box = st.container(height=560, border=True, key="thread_box", autoscroll=False)
    with box:
        older_messages(
            f"older_{thread.conversation_id}",
            shown=len(thread.messages),
            has_older=thread.has_older,
            on_more=functools.partial(_more, limit_key),
        )
        if not thread.messages:
            st.caption("No messages yet.")
        day = None
        for msg in thread.messages:
            this_day = local(msg["created_at"], user).date()
            if this_day != day:
                day = this_day
                st.caption(md("**{day}**", day=date_header(day, user)), text_alignment="center")
            render_message(rt, user, msg, thread.media.get(msg["id"], []))
    if notice:
        getattr(st, notice[0])(esc(notice[1]))
