"""The audit log: written through core/audit.py, filtered by user, action and date, exported as CSV."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
import pytest

from core import audit, clock
from core.errors import PermissionDenied


@pytest.fixture
def ws(db, make_user):
    ws = dict(admin=make_user("ada", "admin"), maria=make_user("maria"))
    entries = [
        (dt.datetime(2026, 3, 1, 9, 0), ws["admin"].id, "user.created", "user", 7, {"role": "standard"}),
        (
            dt.datetime(2026, 3, 2, 10, 0),
            ws["admin"].id,
            "campaign.queued",
            "campaign",
            3,
            {"name": "=cmd|' /C calc'!A0"},
        ),
        (dt.datetime(2026, 3, 2, 23, 59), ws["maria"].id, "campaign.paused", "campaign", 3, {}),
        (dt.datetime(2026, 3, 4, 8, 0), ws["admin"].id, "optout.added", "contact", 9, {"reason": "phone"}),
    ]
    for at, actor, action, kind, object_id, detail in entries:
        clock.freeze(at)
        db.write(lambda tx, a=actor, ac=action, k=kind, o=object_id, d=detail: audit.record(tx, a, ac, k, o, **d))
    clock.freeze(None)
    return ws


def actions(rows):
    return [r["action"] for r in rows]


def test_filters(db, ws):
    rows, total = audit.search(db, ws["admin"])
    assert total == 4 and actions(rows) == ["optout.added", "campaign.paused", "campaign.queued", "user.created"]
    assert actions(audit.search(db, ws["admin"], user_id=ws["maria"].id)[0]) == ["campaign.paused"]
    assert actions(audit.search(db, ws["admin"], action="campaign")[0]) == ["campaign.paused", "campaign.queued"]
    assert actions(audit.search(db, ws["admin"], action="campaign.queued")[0]) == ["campaign.queued"]
    one_day = audit.search(db, ws["admin"], since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 2))[0]
    assert actions(one_day) == ["campaign.paused", "campaign.queued"]  # both ends of the day included
    assert "campaign" in audit.actions(db, ws["admin"]) and "optout.added" in audit.actions(db, ws["admin"])


def test_export_is_csv_safe_for_spreadsheets_and_itself_audited(db, ws):
    data = audit.export_csv(db, ws["admin"], action="campaign")
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(frame.columns) == ["Time (UTC)", "User", "Action", "Object", "Object id", "Detail"]
    assert list(frame["Action"]) == ["campaign.queued", "campaign.paused"]
    assert list(frame["User"]) == ["ada", "maria"]
    assert frame["Detail"][0] == '{"name": "=cmd|\' /C calc\'!A0"}'  # inside JSON: not a formula
    exported = audit.search(db, ws["admin"], action="audit.exported")[0]
    assert (
        len(exported) == 1 and '"rows": 2' in exported[0]["detail"] and '"action": "campaign"' in exported[0]["detail"]
    )


def test_only_admins_read_or_export_it(db, ws):
    for call in (audit.search, audit.export_csv, audit.actions):
        with pytest.raises(PermissionDenied, match="Only an admin"):
            call(db, ws["maria"])


def test_a_contacts_export_is_audited(db, ws):
    from core.contacts_csv import export_contacts

    export_contacts(db, ws["maria"], search="ana")
    rows = audit.search(db, ws["admin"], action="contacts.exported")[0]
    assert [(r["username"], r["action"]) for r in rows] == [("maria", "contacts.exported")]
    assert '"rows": 0' in rows[0]["detail"] and '"search": "ana"' in rows[0]["detail"]


def test_entries_read_in_words_and_name_what_they_are_about(db, ws):
    from tests import factories as f

    contact = f.add_contact(db, name="Olga Petrova", phone="+14158675309")
    db.write(lambda tx: audit.record(tx, ws["admin"].id, "optout.added", "contact", contact, reason="asked"))
    db.write(lambda tx: audit.record(tx, ws["maria"].id, "user.sign_in_failed", "user", ws["maria"].id))
    db.write(lambda tx: audit.record(tx, ws["admin"].id, "settings.changed", "settings", None))
    rows = audit.search(db, ws["admin"])[0][:3]
    assert [(r["action_label"], r["object_name"]) for r in rows] == [
        ("Settings: changed", "settings"),
        ("User: sign-in failed", f"{ws['maria'].display_name} (@maria)"),
        ("Opt-out: added", "Olga Petrova +14158675309"),
    ]
    assert audit.search(db, ws["admin"], action="campaign")[0][0]["object_name"] == "campaign 3"  # gone: its id
    assert audit.action_label("campaign") == "Campaign (every action)"
