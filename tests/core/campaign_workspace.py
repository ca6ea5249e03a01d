"""A small workspace for the campaign tests: people, senders, tagged contacts, campaign templates."""

from __future__ import annotations

import datetime as dt
import itertools

from core import clock
from core.actions import inbound
from core.actions.campaigns import CampaignDraft
from core.actions.contacts import do_archive_contact
from core.campaigns.audience import AudienceSpec, VariableSource, read_csv_audience
from core.providers.base import InboundEvent
from tests import factories as f

_ids = itertools.count(1)


def build(db, make_user) -> dict:
    f.always_open(db)
    ws = dict(
        admin=make_user("ada", "admin", "Ada Admin"),
        maria=make_user("maria", display_name="Maria Lopez"),
        james=make_user("james", display_name="James Reed"),
        sam=make_user("sam", "supervisor", display_name="Sam Okafor"),
    )
    ws["sms"] = f.add_sender(db, phone="+14155550100", label="Front desk SMS")
    ws["wa"] = f.add_sender(db, channel="whatsapp", phone="+14155550199", provider_ref="PN1", label="WhatsApp")
    ws["ana"] = f.add_contact(db, phone="+14158670001", name="Ana Díaz")
    ws["ben"] = f.add_contact(db, phone="+14158670002", name="Ben")
    ws["cleo"] = f.add_contact(db, phone="+14158670003", name=None)
    ws["dora"] = f.add_contact(db, phone="+14158670004", name="Dora Opted", opted_out=True)
    ws["eli"] = f.add_contact(db, phone="+14158670005", name="Eli Archived")
    ws["uk"] = f.add_contact(db, phone="+447911123456", name="Una Kingdom")
    tag(
        db,
        {
            ws["ana"]: "Recall, VIP",
            ws["ben"]: "recall",
            ws["cleo"]: "recall",
            ws["dora"]: "recall",
            ws["eli"]: "recall",
            ws["uk"]: "recall",
        },
    )
    do_archive_contact(db, ws["admin"], ws["eli"])  # as an admin would: the search index knows it too
    ws["recall"] = f.add_template(
        db,
        name="Cleaning recall",
        kind="campaign",
        channel="sms",
        body="Hi {{first_name}}, your cleaning is due. Reply YES to book.",
    )
    ws["wa_recall"] = f.add_template(
        db,
        name="Check-up recall",
        kind="campaign",
        channel="whatsapp",
        registered=True,
        provider_name="checkup_recall",
        body="Hello {{first_name}}, time for your check-up! Reply here.",
    )
    return ws


def tag(db, tags: dict[int, str]) -> None:
    for contact_id, value in tags.items():
        db.write(lambda tx, c=contact_id, v=value: tx.execute("UPDATE contacts SET tags = ? WHERE id = ?", [v, c]))


def draft(ws, **changes) -> CampaignDraft:
    base = dict(
        name="Spring recall",
        sender_id=ws["sms"],
        template_id=ws["recall"],
        audience=AudienceSpec("tag", tag="recall"),
        sources={"first_name": VariableSource("field", "first_name", "there")},
    )
    return CampaignDraft(**(base | changes))


def csv_spec(text: str, name: str = "list.csv") -> AudienceSpec:
    return AudienceSpec("csv", csv=read_csv_audience(text.encode(), name))


def reply(db, sender_id: int, from_number: str, body: str = "Yes please", at: dt.datetime | None = None) -> int:
    sender = db.dicts(
        "SELECT id, phone, channel, provider, provider_ref, label FROM senders WHERE id = ?", [sender_id]
    )[0]
    event = InboundEvent(
        provider_message_id=f"SMreply{next(_ids)}",
        channel=sender["channel"],
        from_number=from_number,
        to_number=sender["phone"],
        to_ref=None,
        body=body,
        received_at=at or clock.utcnow(),
    )
    return db.write(lambda tx: inbound.apply_inbound(tx, event, sender, []))
