"""Why a queued message waits, recorded on the message when it is written.

``messages.queued_reason``: ``business_hours`` (written outside the workspace's hours) or
``quiet_hours`` (the recipient's quiet hours); NULL when it went at once. With
``release_at`` it lets the thread say "🕓 Queued — outside business hours, goes at 8:00 AM"
from what was decided, not from a guess made later.
"""

VERSION = 22
NAME = "queued_reason"
SQL = "ALTER TABLE messages ADD COLUMN queued_reason VARCHAR"
