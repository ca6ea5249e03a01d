"""What the admin pages keep: sender registration, the sending gate, opt-out reasons, webhook retries.

Senders: a US long code's 10DLC brand and campaign statuses (``registration_status``
stays the overall one), and ``send_blocked``, the reason a sender may not send
(kept current by ``core.senders`` whenever a sender or the workspace's rule
for unregistered senders changes; the dispatcher and the composer read it).
Contacts: an explicit WhatsApp opt-in time. Opt-out history: the reason an
admin gave. Webhook inbox: how often an admin sent a kept row back, and when.
"""

VERSION = 17
NAME = "administration"

SQL = """
ALTER TABLE senders ADD COLUMN brand_status VARCHAR;
ALTER TABLE senders ADD COLUMN campaign_status VARCHAR;
ALTER TABLE senders ADD COLUMN send_blocked VARCHAR;
ALTER TABLE senders ADD COLUMN updated_at TIMESTAMP;
ALTER TABLE contacts ADD COLUMN whatsapp_opt_in_at TIMESTAMP;
ALTER TABLE optout_history ADD COLUMN reason VARCHAR;
ALTER TABLE webhook_inbox ADD COLUMN retries INTEGER DEFAULT 0;
ALTER TABLE webhook_inbox ADD COLUMN retried_at TIMESTAMP;
UPDATE senders SET
    brand_status = CASE WHEN registration_kind = '10dlc' THEN
        CASE WHEN registration_status IN ('registered', 'approved', 'verified') THEN 'approved' ELSE 'not_started' END END,
    campaign_status = CASE WHEN registration_kind = '10dlc' THEN
        CASE WHEN registration_status IN ('registered', 'approved', 'verified') THEN 'approved'
             WHEN registration_status = 'pending' THEN 'pending' ELSE 'not_started' END END,
    updated_at = created_at
"""
