"""The composer's templates with the WhatsApp window closed: only approved registered ones are offered,
their text cannot be edited, and a variable the contact cannot fill is typed in beside it (rule 5)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from core import clock
from tests import factories as f
from tests.conftest import demo_user

PAGE = "pages/conversation.py"
pytestmark = pytest.mark.usefixtures("navigation_only")


@pytest.fixture
def closed_window(demo_db):
    """A WhatsApp conversation of Maria's whose customer last wrote three days ago."""
    maria = demo_user(demo_db, "maria")
    sender = demo_db.scalar("SELECT id FROM senders WHERE channel = 'whatsapp'")
    contact = f.add_contact(demo_db, name="Zoë Ávila")
    f.always_open(demo_db)
    return f.add_conversation(
        demo_db,
        contact_id=contact,
        sender_id=sender,
        owner_id=maria.id,
        last_inbound_at=clock.utcnow() - dt.timedelta(days=3),
    )


def test_a_registered_template_with_a_value_typed_in_goes_as_the_template(app_as, demo_db, closed_window):
    cid = closed_window
    at = app_as("maria", PAGE, {"id": cid})
    box = at.selectbox(key=f"compose_template_{cid}")
    assert box.label == "Registered templates"
    assert all("registered" in option for option in box.options)
    box.select(next(o for o in box.options if o.startswith("Appointment reminder"))).run()
    assert at.text_area(key=f"compose_text_{cid}").disabled  # the template's own text, nothing else
    at.text_input(key=f"compose_var_{cid}_date").input("Tuesday, May 4").run()
    at.text_input(key=f"compose_var_{cid}_time").input("3 PM").run()
    assert at.text_area(key=f"compose_text_{cid}").value == (
        "Hi Zoë, this is a reminder of your appointment at Brightside Dental on Tuesday, May 4 at 3 PM. "
        "Reply C to confirm or R to reschedule."
    )
    at.button(key=f"send_{cid}").click().run()
    assert not at.error
    row = demo_db.dicts(
        "SELECT status, template_id, template_values FROM messages WHERE conversation_id = ? AND direction = 'out'",
        [cid],
    )[0]
    assert row["status"] == "queued" and row["template_id"] is not None
    assert json.loads(row["template_values"]) == {"first_name": "Zoë", "date": "Tuesday, May 4", "time": "3 PM"}


def test_saved_text_templates_are_not_offered_when_the_window_is_closed(app_as, closed_window):
    at = app_as("maria", PAGE, {"id": closed_window})
    options = at.selectbox(key=f"compose_template_{closed_window}").options
    assert not any(o.startswith(("Directions", "Insurance accepted")) for o in options)
