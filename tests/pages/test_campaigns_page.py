"""The Campaigns page: the list for every role, a new campaign previewed then sent, its progress and
pause/resume, and the sentences for what cannot be sent."""

from __future__ import annotations

import re

import pytest

PAGE = "pages/campaigns.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


def plain(markdown: str) -> str:
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at) -> list[str]:
    return [e.value for e in at.exception] + [plain(e.value) for e in at.error]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_everyone_follows_campaigns_and_only_senders_start_one(app_as):
    for who in ("maria", "admin", "sam"):
        at = app_as(who, PAGE)
        assert not errors(at)
        assert list(at.dataframe[0].value["Campaign"]) == [
            "Saturday hours launch",
            "Check-up reminder (WhatsApp)",
            "Cleaning recall",
        ]
        has_new = any(b.key == "cmp.new" for b in at.button)
        assert has_new is (who != "sam")


def new_campaign(app_as, who="maria", tag="whitening"):
    at = app_as(who, PAGE)
    at.button(key="cmp.new").click().run()
    at.text_input(key="cmp.n.name").input("Whitening reminder").run()
    template = next(o for o in at.selectbox(key="cmp.n.template").options if o.startswith("Whitening offer"))
    at.selectbox(key="cmp.n.template").select(template).run()
    at.selectbox(key="cmp.n.tag").select(tag).run()
    return at


def test_preview_then_send_then_pause_and_resume(app_as, demo_db):
    at = new_campaign(app_as)
    at.button(key="cmp.preview_button").click().run()
    assert not errors(at)
    tagged = demo_db.scalar(
        "SELECT count(*) FROM contacts WHERE tags LIKE '%whitening%' AND NOT opted_out AND NOT archived"
    )
    assert metrics(at)["Recipients"] == f"{tagged:,}"
    first_name = at.text[-1].value.split(",")[0]
    assert first_name.startswith("Hi ") and "this month teeth whitening is 20% off" in at.text[-1].value
    at.button(key="cmp.send").click().run()
    assert not errors(at)
    cid = demo_db.scalar("SELECT id FROM campaigns WHERE name = 'Whitening reminder'")
    assert at.query_params["id"] == str(cid)
    assert demo_db.scalar("SELECT count(*) FROM messages WHERE campaign_id = ? AND status = 'queued'", [cid]) == tagged
    assert [h.value for h in at.subheader] == ["Whitening reminder"]
    assert metrics(at)["Queued"] == f"{tagged:,}"
    at.button(key="cmp.pause").click().run()
    assert demo_db.scalar("SELECT status FROM campaigns WHERE id = ?", [cid]) == "paused"
    assert any("⏸ Paused" in plain(m.value) for m in at.markdown)
    at.button(key="cmp.resume").click().run()
    assert demo_db.scalar("SELECT status FROM campaigns WHERE id = ?", [cid]) == "sending"


def test_a_supervisor_follows_a_campaign_without_steering_it(app_as, demo_db):
    cid = demo_db.scalar("SELECT id FROM campaigns WHERE name = 'Cleaning recall'")
    at = app_as("sam", PAGE, {"id": cid})
    assert not errors(at)
    assert set(metrics(at)) == {"Queued", "Sent", "Delivered", "Read", "Failed", "Replied", "Opted out"}
    assert not any(b.key in ("cmp.pause", "cmp.resume", "cmp.cancel") for b in at.button)


def test_no_tag_chosen_is_one_sentence(app_as):
    at = app_as("maria", PAGE)
    at.button(key="cmp.new").click().run()
    at.text_input(key="cmp.n.name").input("Oops").run()
    at.button(key="cmp.preview_button").click().run()
    assert errors(at) == ["Choose the tag whose contacts receive the campaign."]


def test_an_empty_campaign_name_is_one_sentence(app_as):
    at = new_campaign(app_as)
    at.text_input(key="cmp.n.name").input("").run()
    at.button(key="cmp.preview_button").click().run()
    assert errors(at) == ["Give the campaign a name."]


def test_an_admin_chooses_who_owns_the_replies(app_as, demo_db):
    at = new_campaign(app_as, "admin")
    at.radio(key="cmp.n.owner_mode").set_value("One person").run()
    james = demo_db.scalar("SELECT id FROM users WHERE username = 'james'")
    at.selectbox(key="cmp.n.owner_user").set_value(james).run()
    at.button(key="cmp.preview_button").click().run()
    at.button(key="cmp.send").click().run()
    assert not errors(at)
    assert demo_db.fetchone(
        "SELECT reply_owner_mode, reply_owner_id FROM campaigns WHERE name = 'Whitening reminder'"
    ) == ("user", james)
    assert any("replies go to James Carter" in plain(m.value) for m in at.markdown)


def test_agents_are_not_offered_the_choice_of_reply_owner(app_as):
    at = new_campaign(app_as, "maria")
    assert not any(r.key == "cmp.n.owner_mode" for r in at.radio)
    assert "Replies start conversations in your own inbox." in [c.value for c in at.caption]


def test_an_agent_is_told_before_preview_that_a_blocked_sender_leaves_us_numbers_out(app_as, demo_db):
    # The workspace's rule for unregistered US senders is "do not send": core records why on the sender.
    demo_db.write(
        lambda tx: tx.execute(
            "UPDATE senders SET registration_status = 'unregistered', send_blocked = 'Sender not registered (10DLC)' "
            "WHERE channel = 'sms'"
        )
    )
    at = new_campaign(app_as, who="maria")
    label = demo_db.scalar("SELECT label FROM senders WHERE channel = 'sms' ORDER BY label LIMIT 1")
    assert (
        f"Parley does not send from {label} to US numbers until it is registered (Sender not registered (10DLC); "
        "the workspace's rule for unregistered senders): its US recipients will be left out."
    ) in errors(at)


def test_an_audience_changed_as_send_is_clicked_is_never_sent_unseen(app_as, demo_db):
    # The tag changed and Send clicked before the page redrew reach the server in one rerun. What
    # is sent is what the preview showed, or nothing with one sentence; never the new audience,
    # whose count nobody saw.
    at = new_campaign(app_as)
    at.button(key="cmp.preview_button").click().run()
    assert not errors(at)
    other = next(o for o in at.selectbox(key="cmp.n.tag").options if o != "whitening")
    at.selectbox(key="cmp.n.tag").select(other)
    at.button(key="cmp.send").click()
    at.run()
    assert other == "implant consult"
    assert errors(at) == ["The campaign changed as Send was clicked: check the new preview, then send."]
    assert demo_db.scalar("SELECT count(*) FROM campaigns WHERE name = 'Whitening reminder'") == 0
    assert not [b for b in at.button if b.key == "cmp.send"]
    # Previewed again, the new audience is what goes.
    at.button(key="cmp.preview_button").click().run()
    at.button(key="cmp.send").click().run()
    assert not errors(at)
    assert demo_db.fetchall("SELECT audience FROM campaigns WHERE name = 'Whitening reminder'") == [
        ('{"kind": "tag", "tag": "implant consult"}',)
    ]
