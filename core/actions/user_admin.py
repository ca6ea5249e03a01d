"""Admins run the people: disable (with the conversations handed over), change a role or a profile,
and teams with their members. Adding a user, resetting a password and re-enabling one are
``core.actions.users``; sign-in sessions are ``core.actions.sessions``.

Every check an action needs is made again inside its transaction (two
admins at once cannot both disable the last other admin; an admin demoted or
disabled since their page drew is refused), every change is
audited through ``core.audit`` and published as ``user.updated``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core import audit, clock, events, permissions, sessions
from core.actions import users as accounts
from core.auth import ROLE_LABELS, ROLES, User
from core.contact_fields import clean_timezone
from core.db import Database, Transaction
from core.errors import Conflict, NotFound, ValidationError

MAX_TEAM_NAME = 60
MAX_DISPLAY_NAME = 80


@dataclass(frozen=True)
class Target:
    id: int
    username: str
    display_name: str
    role: str
    active: bool
    team_id: int | None


def _user_id(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound("That user does not exist.") from None
    return number


def _target(tx: Transaction, user_id: Any) -> Target:
    row = tx.fetchone(
        "SELECT id, username, display_name, role, active, team_id FROM users WHERE id = ?", [_user_id(user_id)]
    )
    if row is None:
        raise NotFound("That user does not exist.")
    return Target(*row)


def _other_active_admins(tx: Transaction, user_id: int) -> int:
    return tx.scalar("SELECT count(*) FROM users WHERE role = 'admin' AND active AND id <> ?", [user_id])


def _changed(tx: Transaction, actor: User, target: Target, action: str, **detail: Any) -> None:
    audit.record(tx, actor.id, action, "user", target.id, username=target.username, **detail)
    tx.publish(events.USER_UPDATED, user_id=target.id, actor_id=actor.id, change=action)


# ---- disable and re-enable ---------------------------------------------------------------------------


def owned_conversations(db: Database, actor: User, user_id: Any) -> int:
    """How many conversations the user owns (the disable dialog asks where they go)."""
    permissions.require_admin(actor, "manage users")
    return db.scalar("SELECT count(*) FROM conversations WHERE owner_id = ?", [_user_id(user_id)])


def do_disable_user(db: Database, actor: User, user_id: Any, reassign_to: Any = None) -> int:
    """Disable an account; its conversations move to ``reassign_to`` (as unread, with its campaigns'
    replies). Nothing is deleted. Returns how many conversations moved."""
    permissions.require_admin(actor, "disable users")

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "disable users")
        target = _target(tx, user_id)
        if target.id == actor.id:
            raise ValidationError("You cannot disable your own account; ask another admin.")
        if not target.active:
            return 0
        if target.role == "admin" and _other_active_admins(tx, target.id) == 0:
            raise ValidationError(f"{target.display_name} is the last active admin; make someone else an admin first.")
        owned = tx.scalar("SELECT count(*) FROM conversations WHERE owner_id = ?", [target.id])
        heir = None
        if owned or reassign_to not in (None, ""):
            if reassign_to in (None, ""):
                raise ValidationError(
                    f"{target.display_name} owns {owned:,} conversation{'s' if owned != 1 else ''}; "
                    "choose who takes them over."
                )
            heir = _target(tx, reassign_to)
            if heir.id == target.id or not heir.active or heir.role == "supervisor":
                raise ValidationError(
                    "Choose an active agent or admin, other than the person disabled, to take them over."
                )
        tx.execute("UPDATE users SET active = FALSE WHERE id = ?", [target.id])
        moved = 0
        if heir is not None:
            moved = _hand_over(tx, actor, target, heir)
        _changed(tx, actor, target, "user.disabled", reassigned_to=heir.username if heir else None, conversations=moved)
        sessions.end_all_for_user(tx, target.id, sessions.USER_DISABLED)  # signed out everywhere, at once
        return moved

    return db.write(write)


def _hand_over(tx: Transaction, actor: User, target: Target, heir: Target) -> int:
    """Every conversation of ``target`` to ``heir``, unread for them; campaign replies follow. Each move
    is an assignment in the audit log and the reporting facts (Stats credit the heir from now on); the
    heir gets one notice for them all."""
    ids = [r[0] for r in tx.fetchall("SELECT id FROM conversations WHERE owner_id = ?", [target.id])]
    if ids:
        tx.execute("UPDATE conversations SET owner_id = ? WHERE owner_id = ?", [heir.id, target.id])
        tx.execute(
            """INSERT INTO read_markers (user_id, conversation_id, read_at, unread)
               SELECT ?, unnest(?::INTEGER[]), NULL, TRUE
               ON CONFLICT (user_id, conversation_id) DO UPDATE SET unread = TRUE""",
            [heir.id, ids],
        )
        audit.record_each(
            tx,
            actor.id,
            "conversation.assigned",
            "conversation",
            ids,
            from_user_id=target.id,
            from_user=target.display_name,
            to_user_id=heir.id,
            why="user.disabled",
        )
        tx.publish(
            events.CONVERSATIONS_REASSIGNED,
            user_id=heir.id,
            from_user_id=target.id,
            from_name=target.display_name,
            actor_id=actor.id,
            count=len(ids),
            conversation_ids=ids,
        )
    # Replies still to come from this person's campaigns go to the heir too.
    tx.execute(
        """UPDATE campaigns SET reply_owner_mode = 'user', reply_owner_id = ?
           WHERE (reply_owner_mode = 'creator' AND created_by = ?) OR (reply_owner_mode = 'user' AND reply_owner_id = ?)""",
        [heir.id, target.id, target.id],
    )
    return len(ids)


# ---- role, profile ----------------------------------------------------------------------------------


def do_change_role(db: Database, actor: User, user_id: Any, role: str) -> bool:
    permissions.require_admin(actor, "change roles")
    if role not in ROLES:
        raise ValidationError("Choose a role: agent, admin or supervisor.")

    def write(tx: Transaction) -> bool:
        permissions.recheck_actor(tx, actor, ("admin",), "change roles")
        target = _target(tx, user_id)
        if target.role == role:
            return False
        if target.role == "admin" and target.active and _other_active_admins(tx, target.id) == 0:
            raise ValidationError(f"{target.display_name} is the last active admin; make someone else an admin first.")
        if role == "supervisor":
            owned = tx.scalar("SELECT count(*) FROM conversations WHERE owner_id = ?", [target.id])
            if owned:
                raise ValidationError(
                    f"Supervisors cannot answer conversations and {target.display_name} owns {owned:,}; "
                    "assign them to someone else in Team Inbox first."
                )
        tx.execute("UPDATE users SET role = ? WHERE id = ?", [role, target.id])
        _changed(tx, actor, target, "user.role_changed", before=target.role, after=role)
        return True

    return db.write(write)


def do_update_profile(
    db: Database, actor: User, user_id: Any, *, display_name: str, timezone: str | None, team_id: Any
) -> bool:
    """Name, time zone and team of a user. Returns whether anything changed."""
    permissions.require_admin(actor, "edit users")
    name = " ".join((display_name or "").split())
    if not name:
        raise ValidationError("Enter the person's name.")
    if len(name) > MAX_DISPLAY_NAME:
        raise ValidationError(f"A name can be at most {MAX_DISPLAY_NAME} characters.")
    zone = clean_timezone(timezone) or "America/New_York"
    team = None if team_id in (None, "") else _user_id(team_id)

    def write(tx: Transaction) -> bool:
        permissions.recheck_actor(tx, actor, ("admin",), "edit users")
        target = _target(tx, user_id)
        if team is not None and not tx.scalar("SELECT count(*) FROM teams WHERE id = ?", [team]):
            raise NotFound("That team does not exist.")
        before = tx.fetchone("SELECT display_name, timezone, team_id FROM users WHERE id = ?", [target.id])
        if tuple(before) == (name, zone, team):
            return False
        tx.execute(
            "UPDATE users SET display_name = ?, timezone = ?, team_id = ? WHERE id = ?", [name, zone, team, target.id]
        )
        changed = {
            k: v for k, v, old in zip(("display_name", "timezone", "team_id"), (name, zone, team), before) if v != old
        }
        _changed(tx, actor, target, "user.updated", **changed)
        if "team_id" in changed:
            tx.publish(events.TEAM_CHANGED, team_id=team, user_id=target.id, actor_id=actor.id)
        return True

    return db.write(write)


def do_create_user(
    db: Database,
    actor: User,
    username: str,
    display_name: str,
    role: str,
    password: str,
    *,
    team_id: Any = None,
    timezone: str = "America/New_York",
) -> User:
    """Add a user (admins), in a team."""
    permissions.require_admin(actor, "add users")
    user = accounts.do_create_user(db, actor, username, display_name, role, password, timezone=timezone)
    if team_id not in (None, ""):
        do_update_profile(db, actor, user.id, display_name=user.display_name, timezone=timezone, team_id=team_id)
    return user


# ---- teams ------------------------------------------------------------------------------------------------


def _team_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the team a name.")
    if len(name) > MAX_TEAM_NAME:
        raise ValidationError(f"A team name can be at most {MAX_TEAM_NAME} characters.")
    return name


def do_create_team(db: Database, actor: User, name: str) -> int:
    permissions.require_admin(actor, "manage teams")
    name = _team_name(name)

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "manage teams")
        if tx.scalar("SELECT count(*) FROM teams WHERE lower(name) = lower(?)", [name]):
            raise Conflict(f"There is already a team called “{name}”.")
        team_id = tx.next_id("seq_teams")
        tx.execute("INSERT INTO teams (id, name, created_at) VALUES (?, ?, ?)", [team_id, name, clock.utcnow()])
        audit.record(tx, actor.id, "team.created", "team", team_id, name=name)
        tx.publish(events.TEAM_CHANGED, team_id=team_id, actor_id=actor.id)
        return team_id

    return db.write(write)


def do_rename_team(db: Database, actor: User, team_id: Any, name: str) -> None:
    permissions.require_admin(actor, "manage teams")
    name = _team_name(name)
    team_id = _user_id(team_id)

    def write(tx: Transaction) -> None:
        permissions.recheck_actor(tx, actor, ("admin",), "manage teams")
        old = tx.scalar("SELECT name FROM teams WHERE id = ?", [team_id])
        if old is None:
            raise NotFound("That team does not exist.")
        if old == name:
            return
        if tx.scalar("SELECT count(*) FROM teams WHERE lower(name) = lower(?) AND id <> ?", [name, team_id]):
            raise Conflict(f"There is already a team called “{name}”.")
        tx.execute("UPDATE teams SET name = ? WHERE id = ?", [name, team_id])
        audit.record(tx, actor.id, "team.renamed", "team", team_id, before=old, after=name)
        tx.publish(events.TEAM_CHANGED, team_id=team_id, actor_id=actor.id)

    db.write(write)


def do_set_team_members(db: Database, actor: User, team_id: Any, user_ids: list[Any]) -> int:
    """Make exactly ``user_ids`` the team's members (a person is in one team; those moved in leave
    their old one, those taken out belong to no team). Returns how many memberships changed."""
    permissions.require_admin(actor, "manage teams")
    team_id = _user_id(team_id)
    wanted = sorted({_user_id(u) for u in user_ids})

    def write(tx: Transaction) -> int:
        permissions.recheck_actor(tx, actor, ("admin",), "manage teams")
        if not tx.scalar("SELECT count(*) FROM teams WHERE id = ?", [team_id]):
            raise NotFound("That team does not exist.")
        known = {r[0] for r in tx.fetchall("SELECT id FROM users WHERE id IN (SELECT unnest(?::INTEGER[]))", [wanted])}
        if len(known) != len(wanted):
            raise NotFound("One of those users does not exist.")
        current = {r[0] for r in tx.fetchall("SELECT id FROM users WHERE team_id = ?", [team_id])}
        joining, leaving = set(wanted) - current, current - set(wanted)
        if not joining and not leaving:
            return 0
        if joining:
            tx.execute(
                "UPDATE users SET team_id = ? WHERE id IN (SELECT unnest(?::INTEGER[]))", [team_id, sorted(joining)]
            )
        if leaving:
            tx.execute("UPDATE users SET team_id = NULL WHERE id IN (SELECT unnest(?::INTEGER[]))", [sorted(leaving)])
        audit.record(
            tx, actor.id, "team.members_changed", "team", team_id, joined=sorted(joining), left=sorted(leaving)
        )
        tx.publish(events.TEAM_CHANGED, team_id=team_id, actor_id=actor.id)
        return len(joining) + len(leaving)

    return db.write(write)


# ---- what the Users page shows ---------------------------------------------------------------------------


def users_overview(db: Database, actor: User) -> list[dict[str, Any]]:
    """Every user with team, role label, how many conversations they own and how many browsers are
    signed in as them (``sessions``)."""
    permissions.require_admin(actor, "manage users")
    rows = db.dicts(
        """SELECT u.id, u.username, u.display_name, u.role, u.active, u.team_id, t.name AS team_name, u.timezone,
                  u.created_at,
                  (SELECT count(*) FROM conversations c WHERE c.owner_id = u.id) AS conversations
           FROM users u LEFT JOIN teams t ON t.id = u.team_id
           ORDER BY NOT u.active, lower(u.display_name), u.id"""
    )
    signed_in = sessions.live_counts(db)
    for row in rows:
        row["role_label"] = ROLE_LABELS.get(row["role"], row["role"])
        row["sessions"] = signed_in.get(row["id"], 0)
    return rows


def teams_overview(db: Database, actor: User) -> list[dict[str, Any]]:
    permissions.require_admin(actor, "manage teams")
    return db.dicts(
        """SELECT t.id, t.name, count(u.id) FILTER (WHERE u.active) AS members,
                  list(u.display_name ORDER BY u.display_name) FILTER (WHERE u.active) AS names
           FROM teams t LEFT JOIN users u ON u.team_id = t.id GROUP BY t.id, t.name ORDER BY lower(t.name)"""
    )
