"""Provider error codes in words an agent understands (shown beside ⚠).

Codes from Twilio and the WhatsApp Cloud API (see shared/spec/providers.md).
Both are kept: our description of a known code first (in words an agent
knows), then the provider's own message (it often names the number or the
detail that went wrong); for an unknown code, the provider's words are all
we have.
"""

from __future__ import annotations

KNOWN = {
    "21211": "Invalid phone number",
    "21610": "The recipient opted out (replied STOP)",
    "21619": "The message had no text, media or template",
    "30003": "Unreachable handset",
    "30005": "Unknown or inactive number",
    "30006": "Landline or unreachable carrier",
    "30007": "Filtered by the carrier (spam or policy)",
    "30032": "Toll-free number not verified",
    "30034": "Sender not registered for 10DLC",
    "30610": "Recipient's quiet hours",
    "30047": "Recipient's quiet hours",
    "63016": "WhatsApp window closed: only templates can be sent",
    "131026": "Message undeliverable",
    "131047": "More than 24 hours since the customer's last message",
    "131048": "Stopped by WhatsApp's spam rate limit",
    "131049": "WhatsApp chose not to deliver this message",
    "131056": "Too many messages to this person in a short time",
    "130429": "WhatsApp throughput limit reached",
    "132001": "The template does not exist",
}

# Codes that mean the person asked not to be messaged: suppress everywhere (rule 2).
OPT_OUT_CODES = {"21610"}


def describe(code: str | None, provider_message: str | None = None) -> str:
    """ "Invalid phone number (error 21211): The 'To' number 555 is not a valid phone number." """
    code = str(code) if code not in (None, "") else None
    known = KNOWN.get(code) if code else None
    said = " ".join((provider_message or "").split()).rstrip(".")
    if known:
        if said and said.lower() != known.lower():
            return f"{known} (error {code}): {said}"
        return f"{known} (error {code})"
    if said and code:
        return f"{said} (error {code})"
    if said:
        return said
    return f"Provider error {code}" if code else "The provider reported a failure"
