"""Stats metrics on small hand-built workspaces whose answers are known."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock, reporting, reporting_backfill, stats, stats_filter
from core.actions import conversations as conv_actions
from core.errors import PermissionDenied, ValidationError
from core.stats_drill import Drill, conversations_for
from tests.core.test_reporting import FRI_16, TUE_9, receive, reply
from tests.core.test_reporting import ws as ws  # noqa: F401  (the fixture)

DAY = dt.date(2026, 3, 10)


@pytest.fixture
def story(db, ws, make_user):  # noqa: F811
    """Three conversations: reopened (maria), reassigned to james, and one nobody answered."""
    maria, james, ada = ws["maria"], ws["james"], ws["ada"]
    a = receive(db, ws, "+14158670001", "Hi, can I book a cleaning?", FRI_16)
    reply(db, maria, a, "Of course! Tuesday 2pm?", dt.datetime(2026, 3, 10, 10, 0))
    clock.freeze(dt.datetime(2026, 3, 10, 10, 30))
    conv_actions.do_set_status(db, maria, [a], closed=True)
    receive(db, ws, "+14158670001", "One more question", dt.datetime(2026, 3, 11, 9, 0))
    reply(db, maria, a, "Sure", dt.datetime(2026, 3, 11, 9, 20))
    b = receive(db, ws, "+14158670003", "Insurance?", TUE_9)
    clock.freeze(TUE_9 + dt.timedelta(minutes=30))
    conv_actions.do_assign(db, ada, [b], james.id)
    reply(db, james, b, "Yes", TUE_9 + dt.timedelta(hours=1))
    c = receive(db, ws, "+14158670002", "Hello?", dt.datetime(2026, 3, 10, 15, 0))
    sam = make_user("sam", "supervisor")
    clock.freeze(dt.datetime(2026, 3, 12, 12, 0))
    return dict(ws, a=a, b=b, c=c, sam=sam)


def utc_filter(**kw):
    return stats_filter.StatsFilter(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31), timezone="UTC", **kw)


def row(table, agent):
    r = table[table["agent"] == agent].iloc[0]
    return int(r["count"]), r["median_seconds"], r["p90_seconds"]


def test_first_response_per_agent_and_overall(db, story):
    table = stats.durations(db, story["sam"], utc_filter(), reporting.FIRST_RESPONSE)
    assert row(table, "Maria") == (1, 324000.0, 324000.0)
    assert row(table, "James") == (1, 3600.0, 3600.0)
    count, median, p90 = row(table, stats.OVERALL)
    assert (count, median, p90) == (2, 163800.0, 291960.0)  # median of 3,600 and 324,000; p90 interpolated
    assert row(table, "Ada")[0] == 0  # an agent with no conversations is listed, with no median
    assert table[table["agent"] == "Ada"]["median_seconds"].isna().all()


def test_an_agent_promoted_to_supervisor_keeps_their_name_on_their_history(db, ws, make_user):  # noqa: F811
    """Maria closed a conversation, handed it over and became a supervisor: her closes are hers, by
    name, beside the one nobody owned (not "User 2.0")."""
    from core.actions import user_admin

    maria, james, ada = ws["maria"], ws["james"], ws["ada"]
    sam = make_user("sam", "supervisor")
    a = receive(db, ws, "+14158670301", "hi", TUE_9)
    clock.freeze(TUE_9 + dt.timedelta(hours=1))
    conv_actions.do_set_status(db, maria, [a], closed=True)
    nobodys = receive(db, ws, "+14158670302", "anyone?", TUE_9 + dt.timedelta(hours=1))
    db.write(lambda tx: tx.execute("UPDATE conversations SET owner_id = NULL WHERE id = ?", [nobodys]))
    clock.freeze(TUE_9 + dt.timedelta(hours=2))
    conv_actions.do_set_status(db, ada, [nobodys], closed=True)
    conv_actions.do_assign(db, ada, [a], james.id)
    user_admin.do_change_role(db, ada, maria.id, "supervisor")
    table = stats.durations(db, sam, utc_filter(), reporting.CONVERSATION_CLOSED)
    assert table[["agent", "count"]].values.tolist() == [
        ["Ada", 0],
        ["James", 0],
        ["Maria", 1],
        ["Unassigned", 1],
        [stats.OVERALL, 2],
    ]
    assert table["agent_id"].tolist()[:3] == [ada.id, james.id, maria.id]
    # Its bars lead to their own conversations: Unassigned to the one nobody owned, not everyone's.
    kind = "closed"
    listed = {
        "Maria": conversations_for(db, sam, utc_filter(), Drill(kind, agent_id=maria.id)),
        "Unassigned": conversations_for(db, sam, utc_filter(), Drill(kind, unassigned=True)),
        "Everyone": conversations_for(db, sam, utc_filter(), Drill(kind)),
    }
    assert {k: sorted(v["conversation_id"]) for k, v in listed.items()} == {
        "Maria": [a],
        "Unassigned": [nobodys],
        "Everyone": [a, nobodys],
    }


def test_an_agent_moved_to_another_team_keeps_their_name_on_their_old_teams_history(db, ws, make_user):  # noqa: F811
    from core.actions import user_admin

    maria, ada = ws["maria"], ws["ada"]
    sam = make_user("sam", "supervisor")
    a = receive(db, ws, "+14158670303", "hi", TUE_9)
    reply(db, maria, a, "hello", TUE_9 + dt.timedelta(minutes=10))
    clock.freeze(dt.datetime(2026, 3, 11))
    sales = user_admin.do_create_team(db, ada, "Sales")
    user_admin.do_set_team_members(db, ada, sales, [maria.id])
    support = stats.durations(db, sam, utc_filter(team_id=1), reporting.FIRST_RESPONSE)  # her answer was Support's
    assert support[["agent", "count"]].values.tolist() == [["Ada", 0], ["James", 0], ["Maria", 1], [stats.OVERALL, 1]]
    assert support["median_seconds"].tolist()[2:] == [600.0, 600.0]


def test_business_hours_only_counts_open_time(db, story):
    table = stats.durations(db, story["sam"], utc_filter(business_hours=True), reporting.FIRST_RESPONSE)
    assert row(table, "Maria") == (1, 7200.0, 7200.0)  # Fri 16–17 and Tue 9–10; weekend and holiday closed


def test_reply_time_counts_every_wait_and_time_to_close(db, story):
    replies = stats.durations(db, story["sam"], utc_filter(agent_id=story["maria"].id), reporting.REPLY)
    assert row(replies, "Maria") == (2, 162600.0, 291720.0)  # 324,000 s and 1,200 s
    closes = stats.durations(db, story["sam"], utc_filter(), reporting.CONVERSATION_CLOSED)
    assert row(closes, stats.OVERALL) == (1, 325800.0, 325800.0)


def test_unanswered_and_workload_now(db, story):
    assert stats.unanswered(db, story["sam"], utc_filter()) == 1
    work = stats.workload(db, story["sam"], utc_filter())
    maria = work[work["agent"] == "Maria"].iloc[0]
    assert (int(maria["open"]), int(maria["waiting"])) == (2, 1)  # a (reopened, answered) and c (waiting)
    assert maria["oldest_waiting_since"] == dt.datetime(2026, 3, 10, 15, 0)
    oldest = stats.oldest_waiting(db, story["sam"], utc_filter())
    assert oldest["conversation_id"] == story["c"]
    listed = conversations_for(db, story["sam"], utc_filter(), Drill("unanswered"))
    assert list(listed["conversation_id"]) == [story["c"]]


def test_no_answer_yet_follows_the_conversation_to_its_new_owner(db, ws, make_user):  # noqa: F811
    """Opened for Maria, handed to James before anyone answered: the customer waits on James now, in
    Workload and in "no answer yet" alike, and its list; Maria has none. The backfill agrees."""
    from core.actions import user_admin

    maria, james, ada = ws["maria"], ws["james"], ws["ada"]
    sam = make_user("sam", "supervisor")
    cid = receive(db, ws, "+14158670501", "hello?", TUE_9)
    clock.freeze(TUE_9 + dt.timedelta(minutes=30))
    conv_actions.do_assign(db, ada, [cid], james.id)
    sales = user_admin.do_create_team(db, ada, "Sales")
    user_admin.do_set_team_members(db, ada, sales, [james.id])
    for rebuilt in (False, True):
        if rebuilt:
            db.write(reporting_backfill.rebuild)
        for who, f, count, listed in (
            ("James", utc_filter(agent_id=james.id), 1, [cid]),
            ("Maria", utc_filter(agent_id=maria.id), 0, []),
            ("Sales", utc_filter(team_id=sales), 1, [cid]),
            ("Support", utc_filter(team_id=1), 0, []),
            ("everyone", utc_filter(), 1, [cid]),
        ):
            waiting = int(stats.workload(db, sam, f)["waiting"].sum())
            drilled = list(conversations_for(db, sam, f, Drill("unanswered"))["conversation_id"])
            assert (who, waiting, stats.unanswered(db, sam, f), drilled) == (who, count, count, listed)


def test_volume_per_local_day_and_heatmap(db, story):
    daily = stats.volume_daily(db, story["sam"], utc_filter())
    by_day = daily.set_index("day")
    assert len(daily) == 31
    assert int(by_day.loc[dt.date(2026, 3, 6), "conversations"]) == 1
    assert int(by_day.loc[dt.date(2026, 3, 10), "conversations"]) == 2
    assert int(by_day.loc[dt.date(2026, 3, 10), "messages_in"]) == 2
    assert int(daily["messages_in"].sum()) == 4
    # In New York (EST until Mar 8, EDT after) the Friday 16:00 UTC message arrived at 11:00 local.
    ny = stats_filter.StatsFilter(start=dt.date(2026, 3, 1), end=dt.date(2026, 3, 31), timezone="America/New_York")
    heat = stats.incoming_heatmap(db, story["sam"], ny).set_index(["weekday", "hour"])["messages"]
    assert heat.loc[(4, 11)] == 1 and heat.loc[(1, 5)] == 1 and heat.loc[(1, 11)] == 1 and heat.sum() == 4
    opened = conversations_for(db, story["sam"], utc_filter(), Drill("opened", day=DAY))
    assert sorted(opened["conversation_id"]) == sorted([story["b"], story["c"]])


def test_a_range_with_no_data_and_an_empty_range(db, story):
    empty = stats_filter.StatsFilter(start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 7), timezone="UTC")
    assert int(stats.volume_daily(db, story["sam"], empty)["conversations"].sum()) == 0
    assert stats.durations(db, story["sam"], empty, reporting.REPLY)["count"].sum() == 0
    assert stats.delivery_funnel(db, story["sam"], empty)["sent"].sum() == 0
    assert stats.failures(db, story["sam"], empty).empty and stats.campaigns(db, story["sam"], empty).empty
    backwards = stats_filter.StatsFilter(start=dt.date(2026, 3, 10), end=dt.date(2026, 3, 1), timezone="UTC")
    with pytest.raises(ValidationError, match="ends .* before it starts"):
        stats.volume_daily(db, story["sam"], backwards)


def test_agents_cannot_see_stats(db, story):
    with pytest.raises(PermissionDenied, match="supervisors and admins"):
        stats.volume_daily(db, story["maria"], utc_filter())
    with pytest.raises(PermissionDenied):
        conversations_for(db, story["maria"], utc_filter(), Drill("opened", day=DAY))


def test_funnel_failures_optouts_and_campaigns(db, ws, make_user):  # noqa: F811
    from core.providers.base import SendResult, StatusEvent
    from tests.core.test_delivery import ScriptedProvider, dispatcher
    from tests.factories import add_contact

    sam = make_user("sam", "supervisor")
    clock.freeze(TUE_9)
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO campaigns (id, name, sender_id, body, created_at) VALUES (7, 'Spring recall', ?, 'Hi', ?)",
            [ws["sender"]["id"], TUE_9],
        )
    )
    phones = ["+14158670011", "+14158670012", "+14158670013", "+14158670014"]
    contacts = [add_contact(db, phone=p) for p in phones]

    def queue_campaign(tx):  # as a campaign queues its messages; the dispatcher sends them
        for contact in contacts:
            mid = tx.next_id("seq_messages")
            tx.execute(
                "INSERT INTO messages (id, contact_id, sender_id, campaign_id, direction, author_id, body, status, "
                "created_at, status_at) VALUES (?, ?, ?, 7, 'out', ?, 'Spring cleaning?', 'queued', ?, ?)",
                [mid, contact, ws["sender"]["id"], ws["maria"].id, clock.utcnow(), clock.utcnow()],
            )
            tx.execute(
                "INSERT INTO outbox (message_id, sender_id, due_at, created_at) VALUES (?, ?, ?, ?)",
                [mid, ws["sender"]["id"], clock.utcnow(), clock.utcnow()],
            )

    clock.freeze(TUE_9 - dt.timedelta(hours=1))
    db.write(queue_campaign)
    clock.freeze(TUE_9)  # queued before opening; sent when business hours open (rule 3 at release time)
    assert dispatcher(db, ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))).step()
    receive(db, ws, phones[0], "Yes please", TUE_9 + dt.timedelta(minutes=1))
    receive(db, ws, phones[0], "Thursday?", TUE_9 + dt.timedelta(minutes=2))  # one reply per recipient
    receive(db, ws, phones[1], "STOP", TUE_9 + dt.timedelta(minutes=5))
    table = stats.campaigns(db, sam, utc_filter())
    assert table[["campaign", "recipients", "replied", "opted_out"]].values.tolist() == [["Spring recall", 4, 2, 1]]
    assert table["reply_rate"].iloc[0] == 0.5 and table["optout_rate"].iloc[0] == 0.25
    credited = (
        "SELECT kind, contact_id, campaign_id, occurred_at FROM report_facts WHERE kind LIKE 'campaign%' ORDER BY ALL"
    )
    live = db.fetchall(credited)
    db.write(reporting_backfill.rebuild)
    assert db.fetchall(credited) == live  # the backfill credits campaigns as the live writer did

    cid = db.scalar("SELECT id FROM conversations WHERE contact_id = ?", [contacts[0]])
    clock.freeze(None)
    from tests import factories

    factories.always_open(db)
    a = reply(db, ws["maria"], cid, "Booked!", clock.utcnow())
    b = reply(db, ws["maria"], cid, "See you", clock.utcnow())
    dispatcher(db, ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))).step()
    now = clock.utcnow()
    db.write(
        lambda tx: inbound_statuses(
            tx, [StatusEvent(f"SM{a}", "read", now), StatusEvent(f"SM{b}", "failed", now, "30007", "Filtered")]
        )
    )
    today = stats_filter.StatsFilter(start=now.date() - dt.timedelta(days=1), end=now.date() + dt.timedelta(days=1))
    funnel = stats.delivery_funnel(db, sam, today).set_index("channel")
    # written today: the two replies (the STOP confirmation went out in March, outside this range)
    assert funnel.loc["sms"].tolist() == [2, 1, 1]  # read counts as delivered
    fails = stats.failures(db, sam, today)
    assert fails[["status", "error_code", "messages"]].values.tolist() == [["failed", "30007", 1]]
    assert a and b
    optouts = stats.optouts_daily(db, sam, utc_filter()).set_index("day")
    assert int(optouts.loc[DAY, "opted_out"]) == 1 and int(optouts["opted_out"].sum()) == 1


def straddling_campaign(db, ws):  # noqa: F811
    """Campaign 7 reaches three people on Mon Mar 30 (16:50 UTC) and a fourth on Tue Mar 31 (09:05);
    on Tuesday two of Monday's reply and the third writes STOP. The fourth never answers."""
    from core.providers.base import SendResult
    from tests.core.test_delivery import ScriptedProvider, dispatcher
    from tests.factories import add_contact

    sid = ws["sender"]["id"]
    db.write(
        lambda tx: tx.execute(
            "INSERT INTO campaigns (id, name, sender_id, body, created_at) VALUES (7, 'Spring recall', ?, 'Hi', ?)",
            [sid, dt.datetime(2026, 3, 30, 16, 0)],
        )
    )
    phones = ["+14158670411", "+14158670412", "+14158670413", "+14158670414"]
    contacts = [add_contact(db, phone=p) for p in phones]

    def send(batch):
        def write(tx):
            for contact in batch:
                mid = tx.next_id("seq_messages")
                tx.execute(
                    "INSERT INTO messages (id, contact_id, sender_id, campaign_id, direction, author_id, body, "
                    "status, created_at, status_at) VALUES (?, ?, ?, 7, 'out', ?, 'Spring?', 'queued', ?, ?)",
                    [mid, contact, sid, ws["maria"].id, clock.utcnow(), clock.utcnow()],
                )
                tx.execute(
                    "INSERT INTO outbox (message_id, sender_id, due_at, created_at) VALUES (?, ?, ?, ?)",
                    [mid, sid, clock.utcnow(), clock.utcnow()],
                )

        db.write(write)
        assert dispatcher(db, ScriptedProvider(lambda msg: SendResult(f"SM{msg.message_id}", "sent"))).step()

    clock.freeze(dt.datetime(2026, 3, 30, 16, 50))
    send(contacts[:3])
    clock.freeze(dt.datetime(2026, 3, 31, 9, 5))
    send(contacts[3:])
    receive(db, ws, phones[0], "Yes please", dt.datetime(2026, 3, 31, 10, 0))
    receive(db, ws, phones[1], "Yes", dt.datetime(2026, 3, 31, 10, 5))
    receive(db, ws, phones[2], "STOP", dt.datetime(2026, 3, 31, 10, 10))
    return contacts


CAMPAIGN_FIGURES = ["campaign", "recipients", "replied", "opted_out", "reply_rate", "optout_rate"]


def campaign_figures(db, sam, start, end):
    table = stats.campaigns(db, sam, stats_filter.StatsFilter(start=start, end=end))
    return table[CAMPAIGN_FIGURES].values.tolist()


def test_a_campaign_sent_across_the_range_start_counts_the_answers_of_the_sends_in_range(db, ws, make_user):  # noqa: F811
    """Answers count with the send they answer: the range from Tuesday holds one recipient, who never
    answered, not the three answers Monday's recipients gave on Tuesday (a 300 % reply rate)."""
    from core import reporting_rollup

    sam = make_user("sam", "supervisor")
    straddling_campaign(db, ws)
    mon, tue, end = dt.date(2026, 3, 30), dt.date(2026, 3, 31), dt.date(2026, 4, 29)
    for rolled in (False, True):
        if rolled:
            db.write(reporting_rollup.refresh)
        assert campaign_figures(db, sam, mon, end) == [["Spring recall", 4, 3, 1, 0.75, 0.25]]
        assert campaign_figures(db, sam, tue, end) == [["Spring recall", 1, 0, 0, 0.0, 0.0]]
        assert campaign_figures(db, sam, mon, mon) == [["Spring recall", 3, 3, 1, 1.0, 1 / 3]]


def test_the_backfill_gives_campaign_answers_the_send_they_answer(db, ws):  # noqa: F811
    contacts = straddling_campaign(db, ws)
    credited = (
        "SELECT kind, contact_id, campaign_id, occurred_at, started_at FROM report_facts "
        "WHERE kind LIKE 'campaign%' ORDER BY ALL"
    )
    monday = dt.datetime(2026, 3, 30, 16, 50)
    live = db.fetchall(credited)
    assert live == [
        ("campaign_optout", contacts[2], 7, dt.datetime(2026, 3, 31, 10, 10), monday),
        ("campaign_reply", contacts[0], 7, dt.datetime(2026, 3, 31, 10, 0), monday),
        ("campaign_reply", contacts[1], 7, dt.datetime(2026, 3, 31, 10, 5), monday),
        ("campaign_reply", contacts[2], 7, dt.datetime(2026, 3, 31, 10, 10), monday),
    ]
    db.write(reporting_backfill.rebuild)
    assert db.fetchall(credited) == live


def test_the_migration_gives_earlier_campaign_answers_their_send(db, ws, make_user):  # noqa: F811
    """Facts written before answers carried their send (no ``started_at``, rolled up with no cohort):
    migration 25 fills them in and counts them again, and the figures come out as for new facts."""
    from core import reporting_rollup, schema

    sam = make_user("sam", "supervisor")
    straddling_campaign(db, ws)
    db.write(reporting_rollup.refresh)

    def as_before(tx):
        tx.execute("UPDATE report_facts SET started_at = NULL WHERE kind LIKE 'campaign%'")
        tx.execute("UPDATE report_rollup SET cohort = NULL WHERE kind LIKE 'campaign%'")
        tx.execute("DELETE FROM schema_version WHERE version = 25")

    db.write(as_before)
    assert schema.migrate(db) == [25]
    monday = dt.datetime(2026, 3, 30, 16, 50)
    assert db.fetchall("SELECT DISTINCT started_at FROM report_facts WHERE kind LIKE 'campaign%'") == [(monday,)]
    assert campaign_figures(db, sam, dt.date(2026, 3, 31), dt.date(2026, 4, 29)) == [
        ["Spring recall", 1, 0, 0, 0.0, 0.0]
    ]
    assert campaign_figures(db, sam, dt.date(2026, 3, 30), dt.date(2026, 3, 30)) == [
        ["Spring recall", 3, 3, 1, 1.0, 1 / 3]
    ]


def inbound_statuses(tx, callbacks):
    from core.actions import inbound

    return inbound.apply_statuses(tx, callbacks)


def test_each_chart_leads_to_its_conversations(db, story):
    sam, f = story["sam"], utc_filter()

    def ids(drill):
        return sorted(conversations_for(db, sam, f, drill)["conversation_id"])

    assert ids(Drill("first_response", agent_id=story["james"].id)) == [story["b"]]
    assert ids(Drill("first_response")) == sorted([story["a"], story["b"]])  # everyone
    slowest = conversations_for(db, sam, f, Drill("reply", agent_id=story["maria"].id))
    assert list(slowest["detail"]) == [324000.0, 1200.0]  # slowest wait first
    assert ids(Drill("closed")) == [story["a"]]
    assert ids(Drill("heatmap", weekday=1, hour=9)) == [story["b"]]  # Tuesday 09:00 UTC
    assert ids(Drill("in", day=dt.date(2026, 3, 11))) == [story["a"]]
    assert (
        list(conversations_for(db, sam, f, Drill("workload", agent_id=story["maria"].id))["conversation_id"])[0]
        == story["c"]
    )  # the customer waiting longest first
    with pytest.raises(ValidationError, match="outside the chosen range"):
        conversations_for(db, sam, f, Drill("opened", day=dt.date(2025, 1, 1)))


def test_the_rollup_counts_what_the_facts_say_and_never_twice(db, story):
    from core import reporting_rollup

    sam, f = story["sam"], utc_filter()

    def numbers():
        return (
            stats.volume_daily(db, sam, f).to_dict("list"),
            stats.incoming_heatmap(db, sam, f).to_dict("list"),
            stats.delivery_funnel(db, sam, f).to_dict("list"),
            stats.optouts_daily(db, sam, f).to_dict("list"),
        )

    from_facts = numbers()  # nothing rolled up yet: every count comes from the facts themselves
    assert db.write(reporting_rollup.refresh) == db.scalar("SELECT max(id) FROM report_facts")
    assert numbers() == from_facts
    assert db.write(reporting_rollup.refresh) == 0 and numbers() == from_facts
    receive(db, story, "+14158670002", "Still there?", dt.datetime(2026, 3, 12, 8, 0))  # a new fact: the tail
    assert int(stats.volume_daily(db, sam, f).set_index("day").loc[dt.date(2026, 3, 12), "messages_in"]) == 1
