"""The compose box under a conversation: text, emoji, files, templates, Send.

What may be sent, which templates are offered, what blocks the box, the
window and release notices, file limits and missing template variables are
decided in ``core.conversation_view`` (rules 2, 3, 5, 10); the page only
lays them out and disables Send, ``do_send`` enforces it again. Send is a
button callback: it sends, then clears the text, the files and the
template, so the next run shows an empty box and the new 🕓 message.
Attached files are kept by the composer itself (``_take_uploads``), not by
the uploader widget, so a run that does not draw the uploader loses none.
"""

from __future__ import annotations

import emoji
import streamlit as st

from core import encoding
from core.actions import composing, messaging
from core.auth import User
from core.conversation_view import ConversationView, check_files, missing_variables
from core.errors import ParleyError
from pages import compose_text
from pages.format import file_size
from pages.session import guarded
from pages.text import esc, md

EMOJI = [
    "😀",
    "😂",
    "😊",
    "😍",
    "😉",
    "🙂",
    "🙃",
    "😎",
    "🤔",
    "😅",
    "😢",
    "😮",
    "🙏",
    "👍",
    "👎",
    "👌",
    "👋",
    "👏",
    "💪",
    "🤝",
    "❤️",
    "💙",
    "🎉",
    "✨",
    "⭐",
    "🔥",
    "✅",
    "❌",
    "⚠️",
    "❓",
    "📅",
    "🕒",
    "📍",
    "📞",
    "📎",
    "🦷",
    "🪥",
    "😁",
    "🥳",
    "😴",
]


def _keys(cid: int) -> dict[str, str]:
    nonce = st.session_state.setdefault(f"compose_nonce_{cid}", 0)
    return {
        "text": compose_text.text_key(cid),
        "template": compose_text.template_key(cid),
        "files": f"compose_files_{cid}_{nonce}",
        "nonce": f"compose_nonce_{cid}",
        "result": compose_text.notice_key(cid),
        "attached": f"compose_attached_{cid}",
    }


# Attachments belong to the message being written, not to the uploader widget: Streamlit forgets a
# widget's files on any run that does not draw it (the agent opens another conversation and comes
# back, or the box is blocked for a moment), and the text came back from the draft while the file
# did not, so Send went without it. What finished uploading is moved here at once, per
# conversation for this session, and Send takes exactly what is listed here.
def _attached(keys: dict[str, str]) -> list[dict]:
    return st.session_state.setdefault(keys["attached"], [])


def _take_uploads(keys: dict[str, str]) -> None:
    """The uploader's ``on_change``: its finished files join the message; the uploader starts empty."""
    kept = _attached(keys)
    for f in st.session_state.get(keys["files"]) or []:
        serial = max((a["id"] for a in kept), default=0) + 1
        kept.append({"id": serial, "file": messaging.Attachment(f.name, f.type or "", f.getvalue())})
    st.session_state[keys["nonce"]] += 1


def _remove_attachment(keys: dict[str, str], serial: int) -> None:
    st.session_state[keys["attached"]] = [a for a in _attached(keys) if a["id"] != serial]


def _append(rt, user: User, cid: int, value: str) -> None:
    key = compose_text.text_key(cid)
    st.session_state[key] = (st.session_state.get(key) or "") + value
    compose_text.save_draft(rt, user, cid)


def _pick_emoji(rt, user: User, cid: int) -> None:
    """The picked emoji goes at the end of the text; the picker shows none picked, ready for the next."""
    char = st.session_state.get(f"emoji_{cid}")
    st.session_state[f"emoji_{cid}"] = None
    if char:
        _append(rt, user, cid, char)


def _send(rt, user: User, cid: int, keys: dict[str, str]) -> None:
    attachments = [a["file"] for a in _attached(keys)]
    text = st.session_state.get(keys["text"]) or ""
    try:
        messaging.do_send(
            rt.db,
            user,
            cid,
            text,
            attachments=attachments,
            template_id=compose_text.chosen_template(cid),
            template_values=compose_text.typed_values(cid),
            media_store=rt.media,
        )
    except ParleyError as exc:
        st.session_state[keys["result"]] = ("error", str(exc))
        compose_text.save_draft(rt, user, cid)  # the box's change was left to Send: keep it
        return
    compose_text.sent(cid, text)  # core cleared the draft with the send
    # They went with it. The uploader keeps its key: a file still uploading when Send was pressed
    # (the browser hands a file over only once it is uploaded) joins the next message, not nothing.
    st.session_state.pop(keys["attached"], None)
    st.session_state.pop(keys["result"], None)


def segment_line(text: str) -> str:
    """'42 characters · GSM-7 · 1 segment (118 left)', plus what forced UCS-2."""
    info = encoding.sms_segments(text)
    chars = "character" if info.characters == 1 else "characters"
    noun = "segment" if info.segments == 1 else "segments"
    line = f"{info.characters} {chars} · {info.encoding} · {info.segments} {noun} ({info.remaining_in_segment} left)"
    if info.encoding == "UCS-2":
        odd = encoding.non_gsm_characters(text)[:5]
        line += " · UCS-2 because of " + ", ".join(f"“{c}”" for c in odd)
    return line


def _template_label(t: dict) -> str:
    body = " ".join(t["body"].split())
    tag = " · registered" if t["registered"] else ""
    return f"{t['name']}{tag} — {body[:70]}{'…' if len(body) > 70 else ''}"


def render(rt, user: User, view: ConversationView) -> None:
    """The compose box, in one keyed container (``composer``) at the foot of the page."""
    with st.container(key="composer", gap="small"):
        _render(rt, user, view)


def notices(user: User, state) -> None:
    """Why things are as they are, above the box: at most a few short lines."""
    if state.sender_warning:
        st.warning(esc(state.sender_warning), icon="⚠️")
    if state.window_notice is not None:
        kind, text = state.window_notice
        getattr(st, kind)(esc(text), icon="💬")
    if state.blocked_reason:
        st.warning(esc(state.blocked_reason), icon="🚫")
    if state.release_notice:
        # Where it says the message will wait, the hours it waits for: a newcomer at night sees why.
        if state.hours_notice:
            st.info(md("{notice}  \n{hours}", notice=state.release_notice, hours=state.hours_notice), icon="🕓")
        else:
            st.info(esc(state.release_notice), icon="🕓")
        if state.window_warning:
            st.warning(esc(state.window_warning), icon="⏳")
    if state.reopen_notice:
        st.info(esc(state.reopen_notice), icon=":material/undo:")


def _render(rt, user: User, view: ConversationView) -> None:
    state, cid = view.composer, view.conversation_id
    if not state.can_write:
        if user.is_supervisor:
            st.info("Supervisors can read but not send.", icon="👁️")
        else:
            st.info(esc(state.refusal or "You cannot send in this conversation."), icon="🔒")
        return
    keys = _keys(cid)
    notices(user, state)

    by_id = {t["id"]: t for t in state.templates}
    if st.session_state.get(keys["template"]) not in by_id:
        st.session_state[keys["template"]] = None
    if compose_text.chosen_template(cid) not in by_id:  # e.g. the window closed: only registered ones now
        st.session_state.pop(compose_text.chosen_key(cid), None)
    hard_block = state.hard_block
    template = state.template(compose_text.chosen_template(cid))
    need_template = state.needs_template(compose_text.chosen_template(cid))

    compose_text.question(rt, user, cid)  # a template chosen over typed text: what should it do?
    compose_text.prime(rt, user, cid)  # the saved draft, the first time this session shows the box
    st.text_area(
        "Message",
        key=keys["text"],
        height=88,
        # With the window closed only the registered template's own text may go (core refuses any other).
        disabled=hard_block or need_template or state.templates_only,
        placeholder="Choose a registered template below" if need_template else "Write a message…",
        label_visibility="collapsed",
        on_change=guarded(compose_text.box_changed),
        args=(rt, user, cid),
    )
    compose_text.keep_on_leave(cid)
    text = st.session_state.get(keys["text"]) or ""
    if template is not None:
        # Variables the contact has no value for are typed here; core fills the text with them.
        try:
            unknown = composing.render_template(rt.db, template["id"], cid, user).missing
        except ParleyError:
            unknown = []
        for name in unknown:
            st.text_input(
                esc(f"Value for {name.replace('_', ' ')}"),  # plain words: the label is its accessible name too
                key=f"{compose_text.values_prefix(cid)}{name}",
                max_chars=200,
                on_change=guarded(compose_text.fill_values),
                args=(rt, user, cid),
            )
        missing = missing_variables(text)
        if missing:
            names = ", ".join("{{" + m + "}}" for m in missing)
            st.warning(md("Fill in {names} before sending: this contact has no value for it.", names=names), icon="✏️")
    expanded = emoji.emojize(text, language="alias")
    if expanded != text:
        st.caption("Will be sent as:")
        st.text(expanded)

    # One row that never wraps (Send stays on it); the count's words wrap inside their own space.
    tools = st.container(horizontal=True, vertical_alignment="center", gap="small", wrap=False, key="composer_tools")
    with tools:
        if state.templates:
            st.selectbox(
                "Registered templates" if state.templates_only else "Template",
                options=list(by_id),
                format_func=lambda i: _template_label(by_id[i]),
                index=None,
                key=keys["template"],
                placeholder="Insert a registered template…" if state.templates_only else "Insert a template…",
                filter_mode="contains",
                on_change=guarded(compose_text.choose_template),
                args=(rt, user, cid),
                disabled=hard_block,
                label_visibility="collapsed",
                width=280,
            )
        with st.popover("Emoji", icon="😀", disabled=hard_block or need_template):
            # One element for the whole grid: a grid of 40 buttons in 8 columns was 48 of the page's
            # ~125 elements, each sent and drawn on every run (and every click that opens the page).
            st.pills(
                "Emoji",
                EMOJI,  # our own literals: plain emoji, nothing Markdown would read
                key=f"emoji_{cid}",
                label_visibility="collapsed",
                on_change=guarded(_pick_emoji),
                args=(rt, user, cid),
            )
        attached = _attached(keys)
        if not hard_block and not need_template:
            with st.popover(
                md("Attach ({count})", count=len(attached)) if attached else "Attach", icon=":material/attach_file:"
            ):
                st.file_uploader(
                    "Attach files",
                    accept_multiple_files=True,
                    key=keys["files"],
                    label_visibility="collapsed",
                    max_upload_size=state.upload.max_mb,  # the channel's largest file; exact limits checked below
                    help=esc(state.upload.help),
                    on_change=guarded(_take_uploads),
                    args=(keys,),
                )
                for item in attached:
                    row = st.container(horizontal=True, vertical_alignment="center", gap="small")
                    row.caption(
                        md("📎 {name} · {size}", name=item["file"].filename, size=file_size(len(item["file"].data)))
                    )
                    row.button(
                        "Remove",
                        key=f"unattach_{cid}_{item['id']}",
                        icon=":material/close:",
                        type="tertiary",
                        on_click=guarded(_remove_attachment),
                        args=(keys, item["id"]),
                    )
        if state.channel == "sms":
            st.caption(esc(segment_line(expanded)), width="stretch")
        elif state.window is not None and state.templates_only:
            st.caption(
                "WhatsApp window closed: the template opens it again when the customer replies.", width="stretch"
            )
        else:
            st.space("stretch")  # Send at the right end of the row
        problems = check_files(
            state.channel, [(a["file"].filename, a["file"].content_type, len(a["file"].data)) for a in attached]
        )
        st.button(
            "Send",
            type="primary",
            icon=":material/send:",
            key=compose_text.send_button_key(cid),
            disabled=hard_block or need_template or bool(problems),
            on_click=guarded(_send),
            args=(rt, user, cid, keys),
        )
    for problem in problems:
        st.error(esc(problem))
    result = st.session_state.pop(keys["result"], None)
    if result:
        getattr(st, result[0])(esc(result[1]))
