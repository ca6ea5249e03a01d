"""Users and teams (admins): add, edit, change role, reset a password, disable (handing over the
conversations) or re-enable; teams and who is in them. Rules and audit: ``core.actions.user_admin``."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from core import sessions
from core.actions import sessions as session_actions
from core.actions import user_admin
from core.actions import users as accounts
from core.auth import ROLE_LABELS, ROLES
from core.contact_fields import time_zone_choices
from core.errors import ParleyError
from pages.admin_common import act, feedback, if_still_chosen, page_user, refusal
from pages.format import fmt_time
from pages.session import SESSION_KEY, guarded
from pages.text import esc, md

KEY = "users"
CHOSE_ANOTHER = "Another user was chosen as you clicked: nothing was changed. Check the form, then click again."
s = st.session_state
rt, user = page_user(admin=True)

st.header("Users and teams", anchor=False)
feedback(KEY)
try:
    people = user_admin.users_overview(rt.db, user)
    teams = user_admin.teams_overview(rt.db, user)
except ParleyError as exc:
    refusal(exc)
    st.stop()
team_names = {t["id"]: t["name"] for t in teams}
by_id = {p["id"]: p for p in people}

st.dataframe(
    pd.DataFrame(
        {
            "Name": [p["display_name"] for p in people],
            "Username": [p["username"] for p in people],
            "Role": [p["role_label"] for p in people],
            "Team": [p["team_name"] or "" for p in people],
            "Conversations": [p["conversations"] for p in people],
            "Status": ["Active" if p["active"] else "Disabled" for p in people],
            "Signed in": [p["sessions"] for p in people],
        }
    ),
    hide_index=True,
)


def render_sessions(user_id: int, name: str) -> None:
    """The person's live sign-in sessions, each of which an admin can end (a lost phone, a shared PC)."""
    st.markdown(md("**Signed in** ({name})", name=name))
    try:
        live = session_actions.list_sessions(rt.db, user, user_id)
    except ParleyError as exc:
        refusal(exc)
        return
    if not live:
        st.caption("No live sign-in sessions.")
        return
    this_browser = s.get(SESSION_KEY)
    for item in live:
        row = st.container(horizontal=True, vertical_alignment="center")
        row.caption(
            md(
                "{browser}{this} · from {source} · signed in {started} · last seen {seen}",
                browser=sessions.browser_label(item.user_agent),
                this=" (this browser: ending it signs you out)" if item.id == this_browser else "",
                source=item.source or "unknown",
                started=fmt_time(item.created_at, user.timezone),
                seen=fmt_time(item.last_seen_at, user.timezone),
            )
        )
        row.button(
            "End",
            key=f"{KEY}.end_session.{item.id}",
            icon=":material/logout:",
            on_click=guarded(act),
            args=(KEY, session_actions.do_end_session, rt.db, user, item.id),
            kwargs={"done": "Session ended."},
        )
    st.button(
        "End every session",
        key=f"{KEY}.end_all",
        on_click=guarded(act),
        args=(KEY, session_actions.do_end_all_sessions, rt.db, user, user_id),
        kwargs={"done": lambda n: f"{n} sessions ended."},
    )


people_tab, new_tab, teams_tab = st.tabs(["Change a user", "Add a user", "Teams"])

with people_tab:
    chosen = st.selectbox(
        "User",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i]['display_name']} (@{by_id[i]['username']})" + ("" if by_id[i]["active"] else " · disabled")
        ),
        key=f"{KEY}.chosen",
    )
    p = by_id[chosen]
    # Every button of the form acts on this user only if still chosen when its click is handled.
    for_chosen = functools.partial(if_still_chosen, KEY, f"{KEY}.chosen", chosen, CHOSE_ANOTHER)
    if s.get(f"{KEY}.loaded") != chosen:  # the form shows the chosen user's values
        s[f"{KEY}.loaded"] = chosen
        s[f"{KEY}.name"] = p["display_name"]
        s[f"{KEY}.tz"] = p["timezone"]
        s[f"{KEY}.team"] = p["team_id"]
        s[f"{KEY}.role"] = p["role"]
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Profile**")
        st.text_input("Name", key=f"{KEY}.name", max_chars=user_admin.MAX_DISPLAY_NAME)
        st.selectbox("Time zone", time_zone_choices(), key=f"{KEY}.tz")
        st.selectbox("Team", [None, *team_names], format_func=lambda t: team_names.get(t, "No team"), key=f"{KEY}.team")
        st.button(
            "Save profile",
            key=f"{KEY}.save",
            on_click=guarded(
                for_chosen(
                    lambda: act(
                        KEY,
                        user_admin.do_update_profile,
                        rt.db,
                        user,
                        chosen,
                        display_name=s.get(f"{KEY}.name"),
                        timezone=s.get(f"{KEY}.tz"),
                        team_id=s.get(f"{KEY}.team"),
                        done="Profile saved.",
                    ),
                )
            ),
        )
        st.markdown("**Role**")
        row = st.container(horizontal=True, vertical_alignment="bottom")
        row.selectbox("Role", list(ROLES), format_func=ROLE_LABELS.get, key=f"{KEY}.role", width=200)
        row.button(
            "Change role",
            key=f"{KEY}.change_role",
            on_click=guarded(
                for_chosen(
                    lambda: act(
                        KEY, user_admin.do_change_role, rt.db, user, chosen, s.get(f"{KEY}.role"), done="Role changed."
                    ),
                )
            ),
        )
    with right:
        st.markdown("**Password**")
        st.text_input(
            "New password",
            type="password",
            key=f"{KEY}.password",
            help="At least 8 characters; tell the person, who can sign in with it at once.",
        )

        def reset() -> None:
            act(
                KEY,
                accounts.do_reset_password,
                rt.db,
                user,
                chosen,
                s.get(f"{KEY}.password") or "",
                done="Password reset.",
            )
            s[f"{KEY}.password"] = ""

        st.button(
            "Reset password",
            key=f"{KEY}.reset",
            on_click=guarded(for_chosen(reset)),
        )
        st.markdown("**Access**")
        if chosen == user.id:
            st.caption("This is your own account: another admin can disable it.")
        elif p["active"]:
            heirs = {
                i: q["display_name"]
                for i, q in by_id.items()
                if q["active"] and q["role"] != "supervisor" and i != chosen
            }
            if p["conversations"]:
                st.caption(
                    md(
                        "{name} owns {n} conversations: choose who takes them over.",
                        name=p["display_name"],
                        n=f"{p['conversations']:,}",
                    )
                )
                st.selectbox(
                    "Hand them over to",
                    list(heirs),
                    format_func=heirs.get,
                    index=None,
                    key=f"{KEY}.heir",
                    placeholder="Choose an agent or admin",
                )
            st.button(
                "Disable…" if p["conversations"] else "Disable",
                key=f"{KEY}.disable",
                icon=":material/person_off:",
                on_click=guarded(
                    for_chosen(
                        lambda: act(
                            KEY,
                            user_admin.do_disable_user,
                            rt.db,
                            user,
                            chosen,
                            reassign_to=s.get(f"{KEY}.heir"),
                            done=lambda n: f"Disabled; {n:,} conversations handed over." if n else "Disabled.",
                        ),
                    )
                ),
            )
        else:
            st.button(
                "Enable",
                key=f"{KEY}.enable",
                icon=":material/person_check:",
                on_click=guarded(
                    for_chosen(
                        lambda: act(KEY, accounts.do_set_active, rt.db, user, chosen, True, done="Enabled."),
                    )
                ),
            )

    render_sessions(chosen, p["display_name"])

with new_tab:
    with st.form(f"{KEY}.new", clear_on_submit=False):
        row = st.container(horizontal=True)
        row.text_input("Username", key=f"{KEY}.new_username", max_chars=32)
        row.text_input("Name", key=f"{KEY}.new_name", max_chars=user_admin.MAX_DISPLAY_NAME)
        row = st.container(horizontal=True)
        row.selectbox("Role", list(ROLES), format_func=ROLE_LABELS.get, key=f"{KEY}.new_role")
        row.selectbox(
            "Team", [None, *team_names], format_func=lambda t: team_names.get(t, "No team"), key=f"{KEY}.new_team"
        )
        st.text_input("Password", type="password", key=f"{KEY}.new_password")

        def create() -> None:
            made = act(
                KEY,
                user_admin.do_create_user,
                rt.db,
                user,
                s.get(f"{KEY}.new_username") or "",
                s.get(f"{KEY}.new_name") or "",
                s.get(f"{KEY}.new_role") or "standard",
                s.get(f"{KEY}.new_password") or "",
                team_id=s.get(f"{KEY}.new_team"),
                done=lambda u: f"{u.display_name} can sign in as @{u.username}.",
            )
            if made is not None:
                for field in ("username", "name", "password"):
                    s[f"{KEY}.new_{field}"] = ""

        st.form_submit_button("Add user", type="primary", on_click=guarded(create))

with teams_tab:
    for t in teams:
        st.markdown(
            md(
                "**{name}** · {n} active members: {names}",
                name=t["name"],
                n=t["members"],
                names=", ".join(t["names"] or []) or "nobody",
            )
        )
    row = st.container(horizontal=True, vertical_alignment="bottom")
    row.text_input("New team", key=f"{KEY}.team_new", max_chars=user_admin.MAX_TEAM_NAME)
    row.button(
        "Add team",
        key=f"{KEY}.team_add",
        on_click=guarded(
            lambda: act(KEY, user_admin.do_create_team, rt.db, user, s.get(f"{KEY}.team_new") or "", done="Team added.")
        ),
    )
    if teams:
        st.divider()
        team = st.selectbox("Team", list(team_names), format_func=team_names.get, key=f"{KEY}.team_chosen")
        if s.get(f"{KEY}.team_loaded") != team:
            s[f"{KEY}.team_loaded"] = team
            s[f"{KEY}.team_rename"] = team_names[team]
            s[f"{KEY}.team_members"] = [p["id"] for p in people if p["team_id"] == team]
        row = st.container(horizontal=True, vertical_alignment="bottom")
        row.text_input("Name", key=f"{KEY}.team_rename", max_chars=user_admin.MAX_TEAM_NAME)
        row.button(
            "Rename",
            key=f"{KEY}.team_rename_go",
            on_click=guarded(
                lambda: act(
                    KEY,
                    user_admin.do_rename_team,
                    rt.db,
                    user,
                    team,
                    s.get(f"{KEY}.team_rename") or "",
                    done="Team renamed.",
                )
            ),
        )
        st.multiselect(
            "Members (a person belongs to one team)",
            list(by_id),
            format_func=lambda i: by_id[i]["display_name"],
            key=f"{KEY}.team_members",
        )
        st.button(
            "Save members",
            key=f"{KEY}.team_save",
            on_click=guarded(
                lambda: act(
                    KEY,
                    user_admin.do_set_team_members,
                    rt.db,
                    user,
                    team,
                    s.get(f"{KEY}.team_members") or [],
                    done=lambda n: f"Team updated ({n} changes).",
                )
            ),
        )
    st.caption(esc("Campaign replies can go to a team in turn (Campaigns page, admins)."))
