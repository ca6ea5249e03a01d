"""Delivery and ingest under faults (issue 18).

- ``outbox.retry_since``: when a row's provider first failed in a way worth retrying (5xx, 429,
  refused connection); the row fails only once the retry horizon has passed since then.
- ``outbox.lookups``: how often a send whose outcome was unknown has been looked up at the
  provider (states ``unknown`` → ``checking`` → done, pending again, or ``interrupted``).
- ``webhook_rejects``: each item of a signed payload that could not be parsed or applied
  (a WhatsApp image without an id, a status without a status, an unknown phone number id), with
  its reason and the item as received, while the payload's other items were applied.
"""

VERSION = 5
NAME = "delivery_faults"
SQL = """
ALTER TABLE outbox ADD COLUMN retry_since TIMESTAMP;
ALTER TABLE outbox ADD COLUMN lookups INTEGER DEFAULT 0;
CREATE SEQUENCE seq_webhook_rejects;
CREATE TABLE webhook_rejects (
    id BIGINT PRIMARY KEY DEFAULT nextval('seq_webhook_rejects'),
    webhook_id BIGINT NOT NULL,
    provider VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    item VARCHAR,
    recorded_at TIMESTAMP NOT NULL
)
"""
