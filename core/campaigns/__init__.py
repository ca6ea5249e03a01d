"""Campaigns: a template sent to an audience through one sender, in bulk, through the outbox.

- ``audience``: who would receive it, everyone left out and why, the values
  each recipient's variables take, and the rendered texts (vectorised: a
  100k audience is built in well under a second);
- ``estimate``: segments, cost units and when it can first go under
  business and quiet hours;
- ``ownership``: who owns the conversation a reply to a campaign starts;
- ``progress``: the live counters of a campaign.

The writers are in ``core.actions.campaigns`` (create and queue) and
``core.actions.queued_campaigns`` (pause, resume, cancel, and following one).
"""

# What a message a cancelled campaign never sent says (``queued_campaigns.do_cancel``); the reporting
# writer finds those messages by it.
CANCELLED_REASON = "Campaign cancelled"
