"""What a campaign will cost and when it can go, before it is sent.

Segments: an SMS is billed per segment (GSM-7: 160 characters alone, 153
per part; one character outside GSM-7 makes the whole message UCS-2: 70 and
67). Texts differ only by their variables, so the units of each distinct
value are counted once and added up per recipient (an escape or surrogate
pair that would straddle two parts is not moved: the count is an estimate,
exact for nearly every text). Cost units: one per SMS segment, one per
WhatsApp template message.

When: each recipient's first allowed moment under business hours and their
own quiet hours (``core.release``), from the chosen time or now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core import encoding, settings
from core.campaigns.audience import VARIABLE_RE
from core.db import Database
from core.release import recipient_zones, release_times_and_reasons
from core.templates import Template


@dataclass(frozen=True)
class Estimate:
    segments: int  # SMS segments in all (WhatsApp: messages)
    cost_units: int
    per_message: float  # segments per message, on average
    ucs2: int  # messages that go as UCS-2
    first_at: dt.datetime | None  # naive UTC: the first moment any of it may go
    last_start_at: dt.datetime | None  # the latest first moment of any recipient


def _units(text: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Whether each text is GSM-7, its septets and its UCS-2 code units: counted once per distinct text."""
    gsm, septets, ucs = {}, {}, {}
    for value in pd.unique(text):
        s = str(value)
        gsm[value] = encoding.is_gsm7(s)
        septets[value] = sum(2 if ch in encoding.GSM7_EXTENSION else 1 for ch in s) if gsm[value] else 0
        ucs[value] = sum(2 if ord(ch) > 0xFFFF else 1 for ch in s)
    return text.map(gsm).astype(bool), text.map(septets).astype("int64"), text.map(ucs).astype("int64")


def segments_per_recipient(
    template: Template, values: dict[str, pd.Series], index: pd.Index
) -> tuple[pd.Series, pd.Series]:
    """(segments, is UCS-2) of each recipient's SMS."""
    literal = VARIABLE_RE.sub("", _full_text(template))
    gsm = pd.Series(encoding.is_gsm7(literal), index=index)
    gsm_units = pd.Series(
        sum(2 if ch in encoding.GSM7_EXTENSION else 1 for ch in literal) if encoding.is_gsm7(literal) else 0,
        index=index,
    )
    ucs_units = pd.Series(sum(2 if ord(ch) > 0xFFFF else 1 for ch in literal), index=index)
    for name in VARIABLE_RE.findall(_full_text(template)):  # a variable used twice counts twice
        part_gsm, part_septets, part_ucs = _units(values[name])
        gsm &= part_gsm
        gsm_units += part_septets
        ucs_units += part_ucs
    units = ucs_units.where(~gsm, gsm_units)
    single = np.where(gsm, 160, 70)
    per_part = np.where(gsm, 153, 67)
    segments = np.where(units <= single, (units > 0).astype(int), -(-units // per_part))
    return pd.Series(segments, index=index), ~gsm


def _full_text(t: Template) -> str:
    parts = []
    if t.header_format == "text" and t.header_text:
        parts.append(t.header_text)
    parts.append(t.body)
    if t.footer:
        parts.append(t.footer)
    return "\n\n".join(parts)


def estimate(
    db: Database,
    template: Template,
    channel: str,
    recipients: pd.DataFrame,
    values: dict[str, pd.Series],
    not_before: dt.datetime,
) -> tuple[Estimate, pd.Series, pd.Series]:
    """The figures, and each recipient's release time (naive UTC) and why it waits until then."""
    index = recipients.index
    if recipients.empty:
        return Estimate(0, 0, 0.0, 0, None, None), pd.Series(dtype="datetime64[us]"), pd.Series(dtype=object)
    if channel == "sms":
        segments, ucs2 = segments_per_recipient(template, values, index)
        total, cost, ucs = int(segments.sum()), int(segments.sum()), int(ucs2.sum())
    else:
        total = cost = len(recipients)
        ucs = 0
    zones = recipient_zones(recipients["phone"], recipients.get("timezone"))
    due, why = release_times_and_reasons(
        zones,
        pd.Series(pd.Timestamp(not_before), index=index),
        settings.business_hours(db),
        settings.quiet_hours(db),
    )
    return (
        Estimate(
            segments=total,
            cost_units=cost,
            per_message=round(total / len(recipients), 2),
            ucs2=ucs,
            first_at=due.min().to_pydatetime(),
            last_start_at=due.max().to_pydatetime(),
        ),
        due,
        why,
    )
