"""Every admin action refuses agents and supervisors in core (a crafted request is no way in), and
admins demoted or disabled since their page drew (the page still holds their old ``User``); each
one an admin makes leaves its entry in the audit log."""

from __future__ import annotations

import pytest

from core import audit, provider_setup, senders, sessions, templates
from core.actions import sessions as session_actions
from core.actions import suppression, user_admin, webhook_review
from core.actions import templates as template_actions
from core.actions import users as accounts
from core.actions.senders import SenderForm, do_create_sender, do_set_unregistered_rule, do_update_sender
from core.actions.workspace import current, do_save_hours, do_save_texts
from core.errors import PermissionDenied
from tests import factories as f

HOURS = dict(
    timezone="UTC",
    weekly={d: [("00:00", "24:00")] for d in range(7)},
    holidays=[],
    quiet_start="00:00",
    quiet_end="24:00",
)
SENDER = SenderForm(phone="+14155550142", channel="sms", provider="simulator", label="New line")


@pytest.fixture
def ws(db, make_user):
    ws = dict(
        admin=make_user("ada", "admin"),
        maria=make_user("maria"),
        james=make_user("james"),
        sam=make_user("sam", "supervisor"),
        lee=make_user("lee", active=False),
    )
    ws["james_session"] = sessions.start(db, ws["james"].id, b"k" * 32).session_id
    ws["sender"] = f.add_sender(db)
    ws["template"] = f.add_template(db, name="Directions", channel=None, body="We are at 120 Main St.")
    ws["contact"] = f.add_contact(db, phone="+14158670001", opted_out=True)
    ws["webhook"] = db.write(
        lambda tx: tx.scalar(
            "INSERT INTO webhook_inbox (received_at, provider, state, body, error) VALUES (now(), 'simulator', "
            "'malformed', 'x', 'bad') RETURNING id"
        )
    )
    ws["team"] = db.scalar("SELECT id FROM teams")
    return ws


ACTIONS = {
    # name: (call, audit action it leaves when an admin does it)
    "create user": (
        lambda db, a, ws: user_admin.do_create_user(db, a, "newbie", "New", "standard", "long-password"),
        "user.created",
    ),
    "disable user": (lambda db, a, ws: user_admin.do_disable_user(db, a, ws["james"].id), "user.disabled"),
    "reset password": (
        lambda db, a, ws: accounts.do_reset_password(db, a, ws["james"].id, "another-password"),
        "user.password_reset",
    ),
    "enable user": (lambda db, a, ws: accounts.do_set_active(db, a, ws["lee"].id, True), "user.enabled"),
    "change role": (lambda db, a, ws: user_admin.do_change_role(db, a, ws["james"].id, "admin"), "user.role_changed"),
    "edit profile": (
        lambda db, a, ws: user_admin.do_update_profile(
            db, a, ws["james"].id, display_name="J", timezone="UTC", team_id=None
        ),
        "user.updated",
    ),
    "end a session": (
        lambda db, a, ws: session_actions.do_end_session(db, a, ws["james_session"]),
        "user.session_ended",
    ),
    "end every session": (
        lambda db, a, ws: session_actions.do_end_all_sessions(db, a, ws["james"].id),
        "user.sessions_ended",
    ),
    "create team": (lambda db, a, ws: user_admin.do_create_team(db, a, "Billing"), "team.created"),
    "rename team": (lambda db, a, ws: user_admin.do_rename_team(db, a, ws["team"], "Desk"), "team.renamed"),
    "team members": (lambda db, a, ws: user_admin.do_set_team_members(db, a, ws["team"], []), "team.members_changed"),
    "add sender": (lambda db, a, ws: do_create_sender(db, a, SENDER), "sender.created"),
    "edit sender": (lambda db, a, ws: do_update_sender(db, a, ws["sender"], SENDER), "sender.updated"),
    "sending rule": (lambda db, a, ws: do_set_unregistered_rule(db, a, "block"), "settings.changed"),
    "hours": (lambda db, a, ws: do_save_hours(db, a, **HOURS), "settings.changed"),
    "texts": (lambda db, a, ws: do_save_texts(db, a, {"optin_confirmation": "Welcome back."}), "settings.changed"),
    "create template": (
        lambda db, a, ws: template_actions.do_create_template(
            db, a, templates.Template(name="New", body="Hello there.", channel="sms")
        ),
        "template.created",
    ),
    "edit template": (
        lambda db, a, ws: template_actions.do_update_template(
            db, a, ws["template"], templates.Template(name="Directions", body="We moved to 4 Oak Ave.")
        ),
        "template.updated",
    ),
    "disable template": (
        lambda db, a, ws: template_actions.do_set_template_active(db, a, ws["template"], False),
        "template.disabled",
    ),
    "remove opt-out": (
        lambda db, a, ws: suppression.do_remove_opt_out(db, a, ws["contact"], "Consent form"),
        "optout.removed",
    ),
    "retry webhook": (lambda db, a, ws: webhook_review.do_retry(db, a, [ws["webhook"]]), "webhook.retried"),
    "export audit": (lambda db, a, ws: audit.export_csv(db, a), "audit.exported"),
}
READS = {
    "users": lambda db, a, ws: user_admin.users_overview(db, a),
    "senders": lambda db, a, ws: senders.list_senders(db, a),
    "hours": lambda db, a, ws: current(db, a),
    "opt-outs": lambda db, a, ws: suppression.opted_out(db, a),
    "audit": lambda db, a, ws: audit.search(db, a),
    "webhooks": lambda db, a, ws: webhook_review.kept(db, a),
    "providers": lambda db, a, ws: provider_setup.overview(db, a, public_url=None, local_url="http://x", env={}),
    "test message": lambda db, a, ws: provider_setup.do_send_test_message(
        db, a, ws["sender"], "+14158670002", "x", lambda s: None
    ),
}


def snapshot(db) -> tuple:
    return tuple(
        db.fetchall(f"SELECT * FROM {table} ORDER BY ALL")
        for table in (
            "users",
            "sessions",
            "teams",
            "senders",
            "settings",
            "templates",
            "contacts",
            "messages",
            "webhook_inbox",
            "audit_log",
        )
    )


@pytest.mark.parametrize("name", list(ACTIONS))
@pytest.mark.parametrize("who", ["maria", "sam"])
def test_agents_and_supervisors_are_refused_and_nothing_changes(db, ws, name, who):
    before = snapshot(db)
    with pytest.raises(PermissionDenied):
        ACTIONS[name][0](db, ws[who], ws)
    assert snapshot(db) == before


@pytest.mark.parametrize("name", list(READS))
def test_admin_pages_read_nothing_for_others(db, ws, name):
    for who in ("maria", "sam"):
        with pytest.raises(PermissionDenied):
            READS[name](db, ws[who], ws)


@pytest.mark.parametrize("name", list(ACTIONS))
def test_each_admin_action_is_audited(db, ws, name):
    call, action = ACTIONS[name]
    call(db, ws["admin"], ws)
    assert db.scalar("SELECT count(*) FROM audit_log WHERE action = ? AND actor_id = ?", [action, ws["admin"].id]) == 1


# What an admin page does with the ``User`` it drew with: every action above, and the test message
# (which reaches a provider before it writes anything but its message id).
STALE = {name: call for name, (call, _action) in ACTIONS.items()} | {"test message": READS["test message"]}


@pytest.mark.parametrize("name", list(STALE))
@pytest.mark.parametrize("change", ["role = 'standard'", "active = FALSE"])
def test_an_admin_demoted_or_disabled_since_the_page_drew_is_refused_and_nothing_changes(db, ws, name, change):
    stale = ws["admin"]  # the object the admin's open page holds: role admin, active
    db.write(lambda tx: tx.execute(f"UPDATE users SET {change} WHERE id = ?", [stale.id]))
    before = snapshot(db)
    with pytest.raises(PermissionDenied, match="a moment ago.*nothing was changed"):
        STALE[name](db, stale, ws)
    assert snapshot(db) == before
