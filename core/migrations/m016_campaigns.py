"""Campaigns that a team sends from Parley: template, audience, schedule, reply owner, exclusions.

``campaigns`` (from the first migration) gains what the Campaigns page sets:
the template and its variables, the audience as chosen (JSON), when it goes,
who owns the replies (its creator, a chosen user, or a team in turn), and
the figures shown before sending. ``campaign_exclusions`` keeps every
recipient left out, with the reason, as the preview showed it.
"""

VERSION = 16
NAME = "campaigns"

SQL = """
ALTER TABLE campaigns ADD COLUMN template_id INTEGER;
ALTER TABLE campaigns ADD COLUMN audience VARCHAR;
ALTER TABLE campaigns ADD COLUMN variables VARCHAR;
ALTER TABLE campaigns ADD COLUMN scheduled_at TIMESTAMP;
ALTER TABLE campaigns ADD COLUMN queued_at TIMESTAMP;
ALTER TABLE campaigns ADD COLUMN paused_at TIMESTAMP;
ALTER TABLE campaigns ADD COLUMN cancelled_at TIMESTAMP;
ALTER TABLE campaigns ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN segments BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN cost_units BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN first_send_at TIMESTAMP;
ALTER TABLE campaigns ADD COLUMN reply_owner_mode VARCHAR NOT NULL DEFAULT 'creator';
ALTER TABLE campaigns ADD COLUMN reply_owner_id INTEGER;
ALTER TABLE campaigns ADD COLUMN reply_team_id INTEGER;
ALTER TABLE campaigns ADD COLUMN reply_turn BIGINT NOT NULL DEFAULT 0;
ALTER TABLE campaigns ADD COLUMN updated_at TIMESTAMP;
UPDATE campaigns SET queued_at = created_at, updated_at = created_at WHERE status = 'sent';
CREATE TABLE campaign_exclusions (
    campaign_id INTEGER NOT NULL,
    contact_id INTEGER,
    phone VARCHAR,
    given VARCHAR,
    reason VARCHAR NOT NULL
)
"""
