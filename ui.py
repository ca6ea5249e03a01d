"""The page script: who is signed in, which pages they get, the frame.

Pages are thin: they call ``core`` and lay out widgets. Everything a role
may not do is refused in ``core`` too; hiding a page here is only comfort.
"""

from __future__ import annotations

import time

import streamlit as st

from core import runtime
from core.errors import ParleyError
from pages import banners, navigate, run_log, session

RUN_STARTED = time.perf_counter()
st.set_page_config(page_title="Parley", page_icon="💬", layout="wide")

try:
    rt = runtime.current()
except ParleyError as exc:
    st.error(str(exc))
    st.stop()

user = session.check_user(rt)
STATS_PATHS = ("stats-volume", "stats-responsiveness", "stats-delivery", "stats-campaigns", "stats-workload")
# Addresses of the pages added for campaigns and administration (a bookmark opens after signing in).
EXTRA_PATHS = ("campaigns", "templates", "users", "senders", "providers", "hours", "opt-outs", "audit", "webhooks")

if user is None:
    session.render_pending_cookie_actions()
    if session.needs_first_admin(rt):
        pages = [st.Page("pages/setup.py", title="Create the first admin", icon="🛠️", url_path="setup")]
    else:
        # Every page's address shows the sign-in form, so a bookmarked or
        # notified link (e.g. /conversation?id=7) opens right after signing in.
        pages = [st.Page("pages/sign_in.py", title="Sign in", icon="🔑", url_path="sign-in", default=True)]
        pages += [
            st.Page("pages/sign_in.py", title="Sign in", icon="🔑", url_path=path)
            for path in ("inbox", "sent", "conversation", "team", "contacts", *STATS_PATHS, *EXTRA_PATHS)
        ]
    st.navigation(pages, position="hidden").run()
    st.stop()

session.render_pending_cookie_actions()
SPECS = {  # key: (script, title, icon, url path)
    "inbox": ("pages/my_inbox.py", "My Inbox", "📥", "inbox"),
    "sent": ("pages/sent_messages.py", "Sent Messages", "📤", "sent"),
    "conversation": ("pages/conversation.py", "Conversation", "💬", "conversation"),
    "team": ("pages/team_inbox.py", "Team Inbox", "👥", "team"),
    "contacts": ("pages/contacts.py", "Contacts", "📇", "contacts"),
    "stats_volume": ("pages/stats_volume.py", "Volume", "📈", "stats-volume"),
    "stats_responsiveness": ("pages/stats_responsiveness.py", "Responsiveness", "⏱️", "stats-responsiveness"),
    "stats_delivery": ("pages/stats_delivery.py", "Delivery", "📬", "stats-delivery"),
    "stats_campaigns": ("pages/stats_campaigns.py", "Campaign results", "🎯", "stats-campaigns"),
    "stats_workload": ("pages/stats_workload.py", "Workload now", "🧮", "stats-workload"),
    "campaigns": ("pages/campaigns.py", "Campaigns", "📣", "campaigns"),
    "templates": ("pages/templates.py", "Templates", "🗂️", "templates"),
    "users": ("pages/admin_users.py", "Users and teams", "🧑‍💼", "users"),
    "senders": ("pages/admin_senders.py", "Sender numbers", "📱", "senders"),
    "providers": ("pages/admin_providers.py", "Provider setup", "🔌", "providers"),
    "hours": ("pages/admin_hours.py", "Hours and texts", "🕘", "hours"),
    "optouts": ("pages/admin_optouts.py", "Opt-outs", "🚫", "opt-outs"),
    "audit": ("pages/admin_audit.py", "Audit log", "📜", "audit"),
    "webhooks": ("pages/admin_webhooks.py", "Webhook review", "🪝", "webhooks"),
}
STATS = ["stats_volume", "stats_responsiveness", "stats_delivery", "stats_campaigns", "stats_workload"]
ADMIN_PAGES = ["users", "senders", "providers", "hours", "optouts", "audit", "webhooks"]


def make_page(key: str, *, home: bool = False, hidden: bool = False) -> st.Page:
    script, title, icon, path = SPECS[key]
    # Streamlit serves the home page at "/" and drops its path, so the home
    # page gets a private path and a hidden twin keeps /inbox or /team working.
    return st.Page(
        script,
        title=title,
        icon=icon,
        url_path=f"{path}-home" if home else path,
        default=home,
        visibility="hidden" if hidden else "visible",
    )


if user.is_supervisor:
    layout = {"Team": ["team"], "Stats": STATS, "Workspace": ["contacts", "campaigns"]}
elif user.is_admin:
    layout = {
        "Inbox": ["inbox", "sent"],
        "Team": ["team"],
        "Stats": STATS,
        "Workspace": ["contacts", "campaigns", "templates"],
        "Admin": ADMIN_PAGES,
    }
else:
    layout = {"Inbox": ["inbox", "sent"], "Workspace": ["contacts", "campaigns"]}
home_key = next(iter(layout.values()))[0]
nav = {section: [make_page(k, home=k == home_key) for k in keys] for section, keys in layout.items()}
first = next(iter(nav))
conversation_page = make_page("conversation", hidden=True)
nav[first] += [make_page(home_key, hidden=True), conversation_page]
if user.is_supervisor:  # a shared /inbox or /sent link lands on what a supervisor reads instead
    nav[first] += [
        st.Page(SPECS["team"][0], title="Team Inbox", icon="👥", url_path=path, visibility="hidden")
        for path in ("inbox", "sent")
    ]
# What pages link to (st.page_link / st.switch_page): only this role's pages.
by_key = {k: nav[section][i] for section, keys in layout.items() for i, k in enumerate(keys)}
session.set_pages(by_key | {"conversation": conversation_page})

# Every section open: an admin's Users or Opt-outs must not hide behind "View 8 more".
page = st.navigation(nav, expanded=True)
navigate.settle(page.url_path)  # a page's request to leave is done once the browser is elsewhere
session.render_frame(rt, user)
banners.render(rt, user)
session.hand_to_page(user)  # the page's own session check is this run's, made above
with run_log.logged_run(f"run {page.url_path}", started=RUN_STARTED):
    page.run()
