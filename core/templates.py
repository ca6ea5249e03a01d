"""Message templates: what one is, the rules a WhatsApp-registered one must keep, how it is filled.

A template's text uses named variables, ``{{first_name}}``. Templates of type
*Conversation* are offered in the composer, *Campaign* ones on the Campaigns
page. On WhatsApp a template is either **registered** (approved by Meta under
a provider name and language, with a category and an approval status; the
only kind that may go when the 24-hour window is closed) or not (saved text,
sent as ordinary text inside the window).

A registered template is kept in the shape of the Cloud API: an optional
header (text with at most one variable, or an image/video/document link), the
body, an optional footer and buttons (quick replies, URL buttons whose URL
may end in one variable, phone-number buttons). With *positional* parameters
Meta knows the variables of each component as ``{{1}}``, ``{{2}}``… in order
of appearance; with *named* parameters by their names. ``cloud_definition``
gives the definition as Meta's template API takes it (what to compare with
WhatsApp Manager), ``template_ref`` the parameters a send carries, and
``core.template_checks.check_template`` refuses, one sentence each, whatever
Meta would refuse.

Templates as stored and their finders (the Templates page, the pickers) are
``core.template_finders``; the writers are in ``core.actions.templates``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import emoji

from core import encoding, phones
from core.errors import ValidationError
from core.providers.base import TemplateParameter, TemplateRef

VARIABLE_RE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
# Anything that looks like a variable, so a typo ({{first name}}, {{1}}) is caught, not sent as text.
BRACES_RE = re.compile(r"\{\{(.*?)\}\}")

KINDS = {"conversation": "Conversation", "campaign": "Campaign"}
CHANNELS = {None: "Any channel", "sms": "SMS", "whatsapp": "WhatsApp"}
CATEGORIES = {"marketing": "Marketing", "utility": "Utility", "authentication": "Authentication"}
APPROVAL = {
    "approved": "Approved",
    "pending": "Pending",
    "rejected": "Rejected",
    "paused": "Paused",
    "disabled": "Disabled",
}
PARAMETER_FORMATS = {"positional": "Positional ({{1}}, {{2}}…)", "named": "Named ({{first_name}}…)"}
HEADER_FORMATS = {"none": "No header", "text": "Text", "image": "Image", "video": "Video", "document": "Document"}
BUTTON_TYPES = {"quick_reply": "Quick reply", "url": "Visit website", "phone_number": "Call phone number"}

MAX_NAME = 80
MAX_BODY = {"sms": 1600, "whatsapp": 4096, None: 1600}
MAX_REGISTERED_BODY = 1024  # Meta: a template body is at most 1,024 characters
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTON_TEXT = 25
MAX_BUTTONS = 10
MAX_URL_BUTTONS = 2
MAX_PHONE_BUTTONS = 1
MAX_URL = 2000
MAX_PAYLOAD = 128
PROVIDER_NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
NAMED_PARAMETER_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CONTENT_SID_RE = re.compile(r"^HX[0-9a-fA-F]{32}$")
# Meta refuses a parameter with a line break or tab, or more than four spaces in a row (error 132018).
BAD_PARAMETER_RE = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class Button:
    type: str  # 'quick_reply' | 'url' | 'phone_number'
    text: str
    url: str | None = None  # url buttons: may end in one {{variable}}
    payload: str | None = None  # quick replies: what comes back when tapped
    phone: str | None = None  # phone-number buttons: E.164

    def as_json(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("type", self.type),
                ("text", self.text),
                ("url", self.url),
                ("payload", self.payload),
                ("phone", self.phone),
            )
            if v is not None
        }


@dataclass(frozen=True)
class Template:
    """A template as stored (``id`` None before it is saved)."""

    name: str
    body: str
    kind: str = "conversation"
    channel: str | None = None  # None: any channel
    registered: bool = False
    provider_name: str | None = None
    language: str = "en_US"
    category: str | None = None
    approval_status: str | None = None
    parameter_format: str = "positional"
    header_format: str = "none"
    header_text: str | None = None
    header_link: str | None = None
    footer: str | None = None
    buttons: tuple[Button, ...] = ()
    content_sid: str | None = None
    samples: Mapping[str, str] = field(default_factory=dict)
    active: bool = True
    id: int | None = None

    @property
    def sendable_as_template(self) -> bool:
        """Goes to the provider as the registered template (and may open a closed window)."""
        return sendable_row(self.__dict__)

    @property
    def named(self) -> bool:
        return self.parameter_format == "named"


@dataclass(frozen=True)
class Rendered:
    text: str  # what the customer reads (header, body and footer), with the values filled
    missing: list[str]  # variables without a value, in order


# ---- variables -------------------------------------------------------------------------------


def variable_names(text: str | None) -> list[str]:
    return [m.group(1) for m in VARIABLE_RE.finditer(text or "")]


def _distinct(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def component_variables(t: Template) -> dict[str, Any]:
    """Each component's variables in order: {'header': [...], 'body': [...], 'buttons': {index: [...]}}."""
    return {
        "header": variable_names(t.header_text) if t.header_format == "text" else [],
        "body": variable_names(t.body),
        "buttons": {
            i: variable_names(b.url) for i, b in enumerate(t.buttons) if b.type == "url" and variable_names(b.url)
        },
    }


def variables(t: Template) -> list[str]:
    """Every variable the template needs a value for, once each, in order of appearance."""
    parts = component_variables(t)
    return _distinct(parts["header"] + parts["body"] + [n for names in parts["buttons"].values() for n in names])


def contact_values(contact_name: str | None, contact_phone: str | None, sender_label: str | None) -> dict[str, str]:
    """What a contact's own fields fill in: name, first_name, last_name, phone, sender."""
    name = (contact_name or "").strip()
    parts = name.split()
    return {
        "name": name,
        "first_name": parts[0] if parts else "",
        "last_name": " ".join(parts[1:]) if len(parts) > 1 else "",
        "phone": phones.format_phone_display(contact_phone) if contact_phone else "",
        "sender": sender_label or "",
    }


def fill(text: str | None, values: Mapping[str, str], missing: list[str] | None = None) -> str:
    """``text`` with each ``{{variable}}`` replaced; a variable without a value stays as written."""

    def sub(match: re.Match) -> str:
        value = values.get(match.group(1))
        if value is None or str(value) == "":
            if missing is not None:
                missing.append(match.group(1))
            return match.group(0)
        return str(value)

    return VARIABLE_RE.sub(sub, text or "")


def render(t: Template, values: Mapping[str, str]) -> Rendered:
    """The text as the customer reads it: the header's text, the body and the footer, filled."""
    missing: list[str] = []
    parts = []
    if t.header_format == "text" and t.header_text:
        parts.append(fill(t.header_text, values, missing))
    parts.append(fill(t.body, values, missing))
    if t.footer:
        parts.append(t.footer)
    for b in t.buttons:  # a URL button's variable is not read, but it must be filled to send
        if b.type == "url":
            fill(b.url, values, missing)
    return Rendered(text="\n\n".join(parts), missing=_distinct(missing))


def reads_as(t: Template, values: Mapping[str, str], body: str | None) -> bool:
    """Whether ``t`` filled with ``values`` is still ``body``, the text recorded when it was written
    (as the composer and a campaign record it: filled, ``:shortcodes:`` expanded, trimmed)."""
    text = render(t, values).text
    return body is not None and (text == body or expand_shortcodes(text) == body)


def expand_shortcodes(text: str) -> str:
    """``:smile:`` as 😄, trimmed: what a written message keeps of its text."""
    return emoji.emojize(text, language="alias").strip()


def registered_text(t: Template, text: str | None) -> str:
    """``text`` as Meta knows it: named variables as written, positional ones numbered from 1."""
    if t.named:
        return VARIABLE_RE.sub(lambda m: "{{" + m.group(1) + "}}", text or "")
    counter = iter(range(1, 10_000))
    return VARIABLE_RE.sub(lambda m: "{{" + str(next(counter)) + "}}", text or "")


def check_values(t: Template, values: Mapping[str, Any]) -> dict[str, str]:
    """The values a send of ``t`` uses, each checked as Meta checks a parameter; one sentence if not."""
    cleaned: dict[str, str] = {}
    for name in variables(t):
        value = values.get(name)
        value = "" if value is None else str(value).strip()
        if not value:
            raise ValidationError(
                f"The template “{t.name}” needs a value for {{{{{name}}}}}; fill it in before sending."
            )
        if t.sendable_as_template and BAD_PARAMETER_RE.search(value):
            raise ValidationError(
                f"WhatsApp does not accept line breaks, tabs or more than four spaces in a row in "
                f"{{{{{name}}}}}; shorten the value to one line."
            )
        cleaned[name] = value
    return cleaned


def template_ref(t: Template, values: Mapping[str, Any]) -> TemplateRef:
    """What a provider sends for a registered template filled with ``values`` (checked first)."""
    values = check_values(t, values)
    parts = component_variables(t)
    params: list[TemplateParameter] = []
    if t.header_format == "text":
        params += [TemplateParameter("header", values[n], name=n) for n in _per_component(t, parts["header"])]
    elif t.header_format in ("image", "video", "document") and t.header_link:
        params.append(TemplateParameter("header", t.header_link, kind=t.header_format))
    params += [TemplateParameter("body", values[n], name=n) for n in _per_component(t, parts["body"])]
    for index, b in enumerate(t.buttons):
        if b.type == "url" and variable_names(b.url):
            name = variable_names(b.url)[0]
            params.append(TemplateParameter("button", values[name], name=name, index=index, sub_type="url"))
        elif b.type == "quick_reply" and b.payload:
            params.append(TemplateParameter("button", b.payload, kind="payload", index=index, sub_type="quick_reply"))
    return TemplateRef(
        name=t.provider_name or "",
        language=t.language or "en_US",
        parameters=tuple(params),
        named=t.named,
        content_sid=t.content_sid,
    )


def _per_component(t: Template, names: list[str]) -> list[str]:
    # Named parameters are sent once per name; positional ones once per {{n}} (a name is never
    # repeated within one component of a positional template: check_template refuses it).
    return _distinct(names) if t.named else names


def cloud_definition(t: Template) -> list[dict[str, Any]]:
    """The components as Meta's template API takes them (creation shape, with examples from the samples)."""
    samples = {n: (t.samples or {}).get(n) or n.replace("_", " ") for n in variables(t)}
    parts = component_variables(t)

    def example(key: str, names: list[str]) -> dict[str, Any]:
        if not names:
            return {}
        if t.named:
            named = [{"param_name": n, "example": samples[n]} for n in _distinct(names)]
            return {"example": {f"{key}_named_params": named}}
        values = [samples[n] for n in names]
        return {"example": {key: values if key == "header_text" else [values]}}

    components: list[dict[str, Any]] = []
    if t.header_format == "text" and t.header_text:
        components.append(
            {"type": "HEADER", "format": "TEXT", "text": registered_text(t, t.header_text)}
            | example("header_text", parts["header"])
        )
    elif t.header_format in ("image", "video", "document"):
        components.append(
            {"type": "HEADER", "format": t.header_format.upper(), "example": {"header_handle": [t.header_link or ""]}}
        )
    components.append({"type": "BODY", "text": registered_text(t, t.body)} | example("body_text", parts["body"]))
    if t.footer:
        components.append({"type": "FOOTER", "text": t.footer})
    if t.buttons:
        buttons = []
        for b in t.buttons:
            if b.type == "quick_reply":
                buttons.append({"type": "QUICK_REPLY", "text": b.text})
            elif b.type == "url":
                names = variable_names(b.url)
                item = {"type": "URL", "text": b.text, "url": VARIABLE_RE.sub("{{1}}", b.url or "")}
                if names:
                    item["example"] = [fill(b.url, samples)]
                buttons.append(item)
            else:
                buttons.append({"type": "PHONE_NUMBER", "text": b.text, "phone_number": b.phone})
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


# ---- checking what an admin saves ----------------------------------------------------------------


def clean_text(value: Any) -> str:
    return (str(value) if value is not None else "").replace("\r\n", "\n").strip()


def clean_buttons(raw: Any) -> tuple[Button, ...]:
    """Buttons from the page's rows (dicts) or stored JSON; empty rows are dropped."""
    if raw is None or raw == "":
        return ()
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationError("The buttons could not be read; add them again.") from None
    buttons = []
    for row in raw or []:
        if not isinstance(row, Mapping):
            continue
        kind = clean_text(row.get("type")) or "quick_reply"
        text = clean_text(row.get("text"))
        url, payload, phone = (clean_text(row.get(k)) or None for k in ("url", "payload", "phone"))
        if not text and not url and not payload and not phone:
            continue
        buttons.append(
            Button(
                kind,
                text,
                url if kind == "url" else None,
                payload if kind == "quick_reply" else None,
                phone if kind == "phone_number" else None,
            )
        )
    return tuple(buttons)


def sms_segments(t: Template, values: Mapping[str, str] | None = None) -> encoding.SegmentInfo:
    """Encoding and segments of the text filled with ``values`` (the samples by default)."""
    return encoding.sms_segments(render(t, values if values is not None else sample_values(t)).text)


def sample_values(t: Template) -> dict[str, str]:
    """The preview's values: the template's samples, else each variable's name in words."""
    return {n: (t.samples or {}).get(n) or n.replace("_", " ").capitalize() for n in variables(t)}


def sendable_row(row: dict[str, Any]) -> bool:
    """A template's row (or fields) goes as the registered template WhatsApp approved."""
    return bool(row.get("registered")) and row.get("channel") == "whatsapp" and row.get("approval_status") == "approved"
