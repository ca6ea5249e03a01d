"""Sent Messages (``queries.sent_view``): newest first, and a total counted up to a cap, which is
all the pager needs ("1–50 of 1,000+") for an agent with years of messages."""

from __future__ import annotations

import datetime as dt

import pytest

from core import queries
from tests import factories as f

START = dt.datetime(2026, 1, 5, 9, 0)


@pytest.fixture
def ws(db, make_user):
    maria = make_user("maria")
    sms = f.add_sender(db)
    zoe = f.add_contact(db, name="Zoë Ávila")
    return dict(maria=maria, sms=sms, zoe=zoe)


def send_many(db, ws, count: int) -> None:
    """``count`` replies by Maria, one a minute from START, in one statement."""
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO messages (contact_id, sender_id, direction, author_id, body, status, created_at, status_at) "
            "SELECT ?, ?, 'out', ?, 'Reminder ' || i, 'delivered', ? + to_minutes(i), ? + to_minutes(i) "
            "FROM range(?) r(i)",
            [ws["zoe"], ws["sms"], ws["maria"].id, START, START, count],
        )
    )


def test_a_total_past_the_cap_is_a_lower_bound(db, ws):
    send_many(db, ws, queries.SENT_COUNT_CAP + 1)
    view = queries.sent_view(db, ws["maria"])
    assert (view.page.total, view.page.capped, view.page.pages) == (1000, True, 20)
    assert [r["body"] for r in view.page.rows[:2]] == ["Reminder 1000", "Reminder 999"]


def test_paging_towards_the_end_counts_further(db, ws):
    send_many(db, ws, queries.SENT_COUNT_CAP + 1)
    view = queries.sent_view(db, ws["maria"], page=19)  # 951–1,000: the next page must be known
    assert (view.page.total, view.page.capped) == (1001, False)
    last = queries.sent_view(db, ws["maria"], page=20)
    assert [r["body"] for r in last.page.rows] == ["Reminder 0"]


def test_up_to_the_cap_the_total_is_exact(db, ws):
    send_many(db, ws, 120)
    view = queries.sent_view(db, ws["maria"])
    assert (view.page.total, view.page.capped, view.page.pages) == (120, False, 3)


def test_newest_first_by_time_even_when_written_out_of_order(db, ws):
    f.add_message(db, contact_id=ws["zoe"], sender_id=ws["sms"], body="Later", author_id=ws["maria"].id, at=START)
    f.add_message(
        db,
        contact_id=ws["zoe"],
        sender_id=ws["sms"],
        body="Earlier, recorded after",
        author_id=ws["maria"].id,
        at=START - dt.timedelta(hours=1),
    )
    assert [r["body"] for r in queries.sent_view(db, ws["maria"]).page.rows] == ["Later", "Earlier, recorded after"]
