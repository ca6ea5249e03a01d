"""The generator leaves its workspaces with the reporting facts Stats read (core.reporting_backfill.rebuild)."""

from __future__ import annotations


def test_the_demo_workspace_has_its_reporting_facts(demo_db):
    db = demo_db
    counts = dict(db.fetchall("SELECT kind, count(*) FROM report_facts GROUP BY kind"))
    assert counts["conversation_opened"] == db.scalar("SELECT count(*) FROM conversations")
    assert counts["message_received"] == db.scalar("SELECT count(*) FROM messages WHERE direction = 'in'")
    assert counts["message_read"] == db.scalar("SELECT count(*) FROM messages WHERE status = 'read'")
    assert counts["message_delivered"] == db.scalar(
        "SELECT count(*) FROM messages WHERE status IN ('delivered', 'read')"
    )
    assert counts["first_response"] <= counts["reply"]
    assert counts.get("campaign_reply", 0) > 0  # the demo's campaigns got answers
    assert db.scalar("SELECT count(*) FROM report_conversation_state") == db.scalar(
        "SELECT count(*) FROM conversations"
    )
    # Stats' counts are folded in up to the last fact.
    assert db.scalar("SELECT max(through_id) FROM report_rollup_mark") == db.scalar("SELECT max(id) FROM report_facts")
