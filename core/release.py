"""When held messages may go (rule 3), for many recipients at once.

``next_send_time`` answers for one recipient; a campaign or an hours change
asks for thousands. Recipients share the answer with everyone in their time
zone who may go from the same moment, so it is computed once per (zone,
earliest moment) and mapped onto the rows. A number's zone comes from its
prefix (phonenumbers keys North American zones by the first seven digits,
others by up to nine), so it too is looked up once per prefix.

A number that may be in several zones (``phones.phone_timezones``) is given
them all, joined into one text (``hours.ZONE_SEPARATOR``), and quiet hours
must hold in each (``hours.next_send_time``): the answer is still computed
once per distinct set of zones and moment. A contact's own zone, when set,
is used alone.

``retime_queued`` re-times the outbox after the hours change: each waiting
message gets the first moment the new hours allow (never earlier than its
campaign's chosen time, nor than a retry's back-off), and goes at once if
that is now. Automatic replies (HELP, opt-out confirmations) answer the
customer and ignore hours, so they are left alone.
"""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import phonenumbers as pn
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

from core import clock, events, phones, settings, versions
from core.compliance import hours as hours_rules
from core.db import Transaction


def recipient_zone(phone: str | None, contact_timezone: str | None = None) -> str | None:
    """``recipient_zones`` for one recipient (the composer's single message)."""
    if contact_timezone:
        return contact_timezone
    return _zone_of(str(phone)) if phone else None


def recipient_zones(phone: pd.Series, contact_timezone: pd.Series | None = None) -> pd.Series:
    """Each recipient's zones for quiet hours: the contact's own zone, else every zone the number may
    be in, the best guess first, joined by ``hours.ZONE_SEPARATOR`` (None when unknown)."""
    phone = phone.astype(str)
    # The longest prefix the zone table can tell apart: North American area codes it never splits
    # further are one key each (a few hundred keys for any audience), others up to the table's length.
    area = phone.str.slice(0, 5)
    nanp = phone.str.startswith("+1")
    whole_area = nanp & ~area.isin(_SPLIT_AREAS)
    key = area.where(whole_area, phone.str.slice(0, 8).where(nanp, phone.str.slice(0, 1 + TIMEZONE_LONGEST_PREFIX)))
    firsts = phone.groupby(key, sort=False).first()
    by_key = {k: _zone_of(v) for k, v in firsts.items()}
    zones = key.map(by_key).astype(object)
    if contact_timezone is not None:
        own = contact_timezone.astype(object)
        zones = own.where(own.notna() & (own != ""), zones)
    return zones.where(zones.notna(), None)


def _zone_of(e164: str) -> str | None:
    """``phones.phone_timezones`` joined into one text, answered from phonenumbers' own prefix table
    when that is certain.

    A North American number whose area code (or a longer prefix) maps to exactly one zone has that
    zone: phonenumbers looks up the same table for these geographic numbers, but only after parsing
    and validating the number, which costs 100× more. Anything else (toll-free, other countries,
    prefixes shared by several zones) takes the full path.
    """
    if e164.startswith("+1") and _us_or_canada(e164):
        digits = e164[1:]
        for length in range(min(len(digits), TIMEZONE_LONGEST_PREFIX), 3, -1):
            zones = TIMEZONE_DATA.get(digits[:length])
            if zones is not None:
                if len(zones) == 1 and _known_zone(zones[0]):
                    return zones[0]
                break
    return hours_rules.ZONE_SEPARATOR.join(phones.phone_timezones(e164)) or None


_AREA_REGIONS: dict[str, bool] = {}
# North American area codes ("+1415") whose zone the table refines by a longer prefix.
_SPLIT_AREAS = sorted({"+" + k[:4] for k in TIMEZONE_DATA if k.startswith("1") and len(k) > 4})


def _us_or_canada(e164: str) -> bool:
    """Whether a +1 number's area code is the US's or Canada's, where every number is geographic
    (elsewhere in the plan mobiles are not, and phonenumbers answers with country-wide zones).
    Asked once per area code."""
    area = e164[:5]
    if area not in _AREA_REGIONS:
        try:
            region = pn.region_code_for_number(pn.parse(e164))
        except pn.NumberParseException:
            return False
        _AREA_REGIONS[area] = region in ("US", "CA")
    return _AREA_REGIONS[area]


@functools.cache
def _known_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def release_times(
    zones: pd.Series,
    not_before: pd.Series,
    business: hours_rules.BusinessHours,
    quiet: hours_rules.QuietHours,
) -> pd.Series:
    """The first moment each row may go: once per distinct (zone, earliest moment)."""
    return release_times_and_reasons(zones, not_before, business, quiet)[0]


def release_times_and_reasons(
    zones: pd.Series,
    not_before: pd.Series,
    business: hours_rules.BusinessHours,
    quiet: hours_rules.QuietHours,
) -> tuple[pd.Series, pd.Series]:
    """The first moment each row may go, and why it waits until then (``messages.queued_reason``:
    'business_hours' when the workspace is closed at the earliest moment, else 'quiet_hours'; None
    when it may go at once)."""
    frame = pd.DataFrame(
        {
            "zone": zones.astype(object).where(zones.notna(), ""),
            "at": pd.to_datetime(not_before).astype("datetime64[us]"),
        }
    )
    pairs = frame.drop_duplicates().reset_index(drop=True)
    due, why = [], []
    for zone, at in pairs.itertuples(index=False):
        when = hours_rules.next_send_time(at.to_pydatetime(), business, zone or None, quiet)
        due.append(when)
        waits = when > at.to_pydatetime()
        why.append(
            None
            if not waits
            else "business_hours"
            if not hours_rules.is_open(at.to_pydatetime(), business, None, None)
            else "quiet_hours"
        )
    pairs["due"] = pd.Series(due, dtype="datetime64[us]")
    pairs["why"] = pd.Series(why, dtype=object)
    merged = frame.merge(pairs, on=["zone", "at"], how="left")
    merged.index = frame.index
    return merged["due"], merged["why"]


def retime_queued(tx: Transaction, campaign_id: int | None = None) -> int:
    """Give every waiting message (or one campaign's) the release time the current hours allow.
    Returns how many moved."""
    now = clock.utcnow()
    only = "AND m.campaign_id = ?" if campaign_id is not None else ""
    rows = tx.execute(
        f"""SELECT o.id AS outbox_id, o.message_id, o.due_at, m.release_at, o.attempts, ct.phone, ct.timezone,
                   greatest(?, coalesce(cp.scheduled_at, ?)) AS not_before
            FROM outbox o JOIN messages m ON m.id = o.message_id JOIN contacts ct ON ct.id = m.contact_id
            LEFT JOIN campaigns cp ON cp.id = m.campaign_id
            WHERE o.state = 'pending' AND (m.author_id IS NOT NULL OR m.campaign_id IS NOT NULL) {only}""",
        [now, now] + ([campaign_id] if campaign_id is not None else []),
    ).df()
    if rows.empty:
        return 0
    business = settings.business_hours_from_json(settings.get_tx(tx, "business_hours"))
    quiet = settings.quiet_hours_from_json(settings.get_tx(tx, "quiet_hours"))
    due, why = release_times_and_reasons(
        recipient_zones(rows["phone"], rows["timezone"]), rows["not_before"], business, quiet
    )
    retrying = rows["attempts"] > 0
    due = due.where(~retrying | (due >= rows["due_at"]), rows["due_at"])  # a retry keeps its back-off
    shown = due.where(due > pd.Timestamp(now))  # "queued until" only while it waits
    same_release = (shown == rows["release_at"]) | (shown.isna() & rows["release_at"].isna())
    moved = rows[(due != rows["due_at"]) | ~same_release]
    if moved.empty:
        return 0
    update = pd.DataFrame(
        {
            "outbox_id": moved["outbox_id"].astype("int64"),
            "message_id": moved["message_id"].astype("int64"),
            "due_at": due[moved.index].astype("datetime64[us]"),
            "release_at": shown[moved.index].astype("datetime64[us]"),
            "queued_reason": why[moved.index].where(shown[moved.index].notna(), None).astype(object),
        }
    )
    tx.cursor.register("_retimed", update)
    try:
        tx.execute("UPDATE outbox SET due_at = u.due_at FROM _retimed u WHERE outbox.id = u.outbox_id")
        tx.execute(
            "UPDATE messages SET release_at = u.release_at, queued_reason = u.queued_reason "
            "FROM _retimed u WHERE messages.id = u.message_id"
        )
    finally:
        tx.cursor.unregister("_retimed")
    versions.touch(tx, messages=update["message_id"].tolist())  # "queued until" moved in their lists
    tx.publish(events.MESSAGES_RETIMED, count=len(update), campaign_id=campaign_id)
    return len(update)
