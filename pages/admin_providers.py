"""Provider setup (admins): which credentials are present (never a secret), the webhook URLs to paste
into each provider's console, and a test message that reports the provider's answer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import provider_setup, senders
from core.engine import ProviderBook, status_callback_for, streamlit_secrets
from core.errors import ParleyError
from core.phones import format_phone_display
from pages.admin_common import feedback, page_user, refusal
from pages.session import guarded
from pages.text import esc, md

KEY = "providers"
s = st.session_state
rt, user = page_user(admin=True)

st.header("Provider setup", anchor=False)
try:
    found = provider_setup.overview(
        rt.db, user, public_url=rt.config.public_url, local_url=rt.config.local_url, secrets=streamlit_secrets()
    )
except ParleyError as exc:
    refusal(exc)
    st.stop()

if not rt.config.public_url:
    st.warning(
        "PARLEY_PUBLIC_URL is not set, so these addresses are this machine's own: providers cannot reach "
        "them. Set it to the https address of this Parley and restart.",
        icon="🌐",
    )
st.caption(
    "Credentials come from the environment or .streamlit/secrets.toml, never from the database; secrets are "
    "only ever shown as set or missing."
)
for p in found:
    with st.container(border=True):
        st.markdown(
            md(
                "**{title}** · {state} · {n} sender numbers",
                title=p.title,
                state="ready" if p.ready else "not ready",
                n=p.senders,
            )
        )
        if p.problem:
            st.caption(esc(p.problem))
        st.dataframe(
            pd.DataFrame(
                {
                    "Setting": [c.label for c in p.credentials],
                    "Environment variable": [c.env for c in p.credentials],
                    "Value": [c.shown for c in p.credentials],
                }
            ),
            hide_index=True,
        )
        st.caption(md("Webhook URL for the {title} console (incoming messages and status callbacks):", title=p.title))
        st.code(p.webhook_url, language=None)
        if p.name == "whatsapp_cloud":
            st.caption("Use the same verify token in Meta's callback settings as PARLEY_WHATSAPP_VERIFY_TOKEN.")

st.subheader("Send a test message", anchor=False)
feedback(KEY)
choices = {r["id"]: r for r in senders.list_senders(rt.db, user)}
if not choices:
    st.info("Add a sender number first.", icon="📵")
    st.stop()
row = st.container(horizontal=True)
row.selectbox(
    "From",
    list(choices),
    key=f"{KEY}.sender",
    format_func=lambda i: f"{choices[i]['label']} ({format_phone_display(choices[i]['phone'])})",
)
row.text_input("To", key=f"{KEY}.to", placeholder="+1 415 555 0123")
st.text_input("Text", key=f"{KEY}.text", value="Parley test message", max_chars=provider_setup.MAX_TEST_TEXT)


def book():
    """The running Parley's providers (the same connections the dispatcher uses)."""
    running = rt.services.get("providers")
    if running is not None:
        return running
    return ProviderBook(
        rt.db,
        simulator_url=f"{rt.config.local_url}/webhooks/simulator",
        simulator_secret=rt.config.simulator_secret,
        demo=rt.config.demo,
        secrets=streamlit_secrets(),
    )


def send_test() -> None:
    s.pop(f"{KEY}.outcome", None)
    try:
        outcome = provider_setup.do_send_test_message(
            rt.db,
            user,
            s.get(f"{KEY}.sender"),
            s.get(f"{KEY}.to") or "",
            s.get(f"{KEY}.text") or "",
            book().for_sender,
            status_callback_url=status_callback_for(rt),
        )
    except ParleyError as exc:
        s[f"{KEY}.error"] = str(exc)
        return
    s[f"{KEY}.outcome"] = outcome


st.button("Send test message", key=f"{KEY}.send", type="primary", icon=":material/send:", on_click=guarded(send_test))
outcome = s.get(f"{KEY}.outcome")
if outcome is not None:
    (st.success if outcome.ok else st.error)(esc(outcome.sentence))
