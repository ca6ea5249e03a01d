"""The names of the events state changes publish after commit.

Every ``tx.publish`` and ``db.subscribe`` names one of these constants, never
a bare string, so a listener cannot wait for an event nobody sends
(``tests/core/test_events.py`` checks that every name here is published
somewhere and every subscription names one of them). Payloads carry ids:
``conversation_id``, ``message_id``, ``contact_id``, and ``user_id`` (the
user whose lists or counts change), plus what each listener needs.
"""

from __future__ import annotations

# ---- messages ---------------------------------------------------------------------------
MESSAGE_QUEUED = "message.queued"  # an outgoing message waits in the outbox
MESSAGE_NOT_SENT = "message.not_sent"  # refused by a rule (opted out, window closed, sender disabled)
MESSAGE_RETRIED = "message.retried"  # an agent asked to send a failed or interrupted message again
MESSAGE_SENT = "message.sent"  # the provider accepted it
MESSAGE_RETRY_SCHEDULED = "message.retry_scheduled"  # the provider was busy or down: tried again later
MESSAGE_FAILED = "message.failed"  # the provider refused it for good
MESSAGE_INTERRUPTED = "message.interrupted"  # in flight when Parley stopped: outcome unknown
MESSAGE_STATUS = "message.status"  # a provider's status callback moved it forward
MESSAGE_RECEIVED = "message.received"  # a customer's message was stored

# ---- conversations ----------------------------------------------------------------------
CONVERSATION_CREATED = "conversation.created"
CONVERSATION_ASSIGNED = "conversation.assigned"
CONVERSATION_READ = "conversation.read"
CONVERSATION_UNREAD = "conversation.unread"
CONVERSATION_CLOSED = "conversation.closed"
CONVERSATION_REOPENED = "conversation.reopened"
CONVERSATION_DELIVERY = "conversation.delivery"  # a delivery outcome changed what its thread shows
CONVERSATION_OPTOUT_FLAGGED = "conversation.optout_flagged"
CONVERSATION_OPTOUT_FLAG_DISMISSED = "conversation.optout_flag_dismissed"

# ---- contacts ---------------------------------------------------------------------------
CONTACT_CREATED = "contact.created"
CONTACT_UPDATED = "contact.updated"
CONTACT_ARCHIVED = "contact.archived"
CONTACT_UNARCHIVED = "contact.unarchived"
CONTACT_DELETED = "contact.deleted"  # only a contact with no conversation (rule 4)
CONTACT_OPTED_OUT = "contact.opted_out"
CONTACT_OPTED_IN = "contact.opted_in"
CONTACTS_IMPORTED = "contacts.imported"

# ---- users, teams and senders ---------------------------------------------------------------
USER_CREATED = "user.created"
USER_SIGNED_IN = "user.signed_in"
USER_UPDATED = "user.updated"  # an admin changed a user: password, role, profile, disabled or enabled
SESSIONS_ENDED = "user.sessions_ended"  # sign-out, sign out everywhere, reset, disabled, expired
CONVERSATIONS_REASSIGNED = "conversations.reassigned"  # a disabled user's conversations moved, in one go
TEAM_CHANGED = "team.changed"  # a team was added, renamed or its members changed
SENDER_CHANGED = "sender.changed"  # a sender number was added or edited: routing caches reload

# ---- templates and campaigns ----------------------------------------------------------------
TEMPLATE_CHANGED = "template.changed"  # created, edited, disabled or enabled
CAMPAIGN_QUEUED = "campaign.queued"  # a campaign's messages wait in the outbox (now or at its time)
CAMPAIGN_PAUSED = "campaign.paused"
CAMPAIGN_RESUMED = "campaign.resumed"
CAMPAIGN_CANCELLED = "campaign.cancelled"

# ---- workspace ------------------------------------------------------------------------------
SETTINGS_CHANGED = "settings.changed"  # hours, quiet hours, texts, sending rules
MESSAGES_RETIMED = "messages.retimed"  # queued messages got new release times after an hours change
WEBHOOK_RETRIED = "webhook.retried"  # an admin sent kept webhooks back to be applied again

# ---- listening to all of them ---------------------------------------------------------------
EVERY = "*"  # db.subscribe(EVERY, ...) hears every event (the live-page feed); never published

ALL = frozenset(
    value for name, value in dict(globals()).items() if name.isupper() and isinstance(value, str) and value != EVERY
)
