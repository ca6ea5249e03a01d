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
``check_template`` refuses, one sentence each, whatever Meta would refuse.

Finders for the Templates page and the pickers live here too; the writers
are in ``core.actions.templates``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from core import encoding, phones
from core.db import Database
from core.errors import NotFound, ValidationError
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


def _names(text: str | None) -> list[str]:
    return [m.group(1) for m in VARIABLE_RE.finditer(text or "")]


def _distinct(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def component_variables(t: Template) -> dict[str, Any]:
    """Each component's variables in order: {'header': [...], 'body': [...], 'buttons': {index: [...]}}."""
    return {
        "header": _names(t.header_text) if t.header_format == "text" else [],
        "body": _names(t.body),
        "buttons": {i: _names(b.url) for i, b in enumerate(t.buttons) if b.type == "url" and _names(b.url)},
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
        if b.type == "url" and _names(b.url):
            name = _names(b.url)[0]
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
                names = _names(b.url)
                item = {"type": "URL", "text": b.text, "url": VARIABLE_RE.sub("{{1}}", b.url or "")}
                if names:
                    item["example"] = [fill(b.url, samples)]
                buttons.append(item)
            else:
                buttons.append({"type": "PHONE_NUMBER", "text": b.text, "phone_number": b.phone})
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


# ---- checking what an admin saves ----------------------------------------------------------------


def _clean_text(value: Any) -> str:
    return (str(value) if value is not None else "").replace("\r\n", "\n").strip()


def _check_braces(text: str, where: str) -> None:
    for inner in BRACES_RE.findall(text or ""):
        if not re.fullmatch(r"\s*[a-zA-Z_][a-zA-Z0-9_]*\s*", inner):
            raise ValidationError(
                f"“{{{{{inner}}}}}” in the {where} is not a variable: use a name such as {{{{first_name}}}} "
                "(letters, digits and underscores)."
            )


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
        kind = _clean_text(row.get("type")) or "quick_reply"
        text = _clean_text(row.get("text"))
        url, payload, phone = (_clean_text(row.get(k)) or None for k in ("url", "payload", "phone"))
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


def check_template(t: Template) -> Template:
    """The template cleaned, or one sentence saying what Meta (or Parley) would refuse."""
    name = " ".join(_clean_text(t.name).split())
    if not name:
        raise ValidationError("Give the template a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"A template name can be at most {MAX_NAME} characters.")
    if t.kind not in KINDS:
        raise ValidationError("Choose the template's type: Conversation or Campaign.")
    channel = t.channel or None
    if channel not in CHANNELS:
        raise ValidationError("Choose the template's channel: SMS, WhatsApp or any channel.")
    body = _clean_text(t.body)
    if not body:
        raise ValidationError("Write the template's text.")
    if "\x00" in body:
        raise ValidationError("The text contains a NUL character, which cannot be sent; remove it.")
    _check_braces(body, "text")
    if len(body) > MAX_BODY[channel]:
        raise ValidationError(
            f"The text is {len(body):,} characters; {CHANNELS[channel]} templates can be at most {MAX_BODY[channel]:,}."
        )
    samples = {str(k): _clean_text(v) for k, v in (t.samples or {}).items() if _clean_text(v)}
    cleaned = replace(t, name=name, channel=channel, body=body, samples=samples, buttons=tuple(t.buttons))
    if not t.registered:
        # Saved text: nothing of a registration is kept, so nothing stale can be sent.
        return replace(
            cleaned,
            registered=False,
            provider_name=None,
            category=None,
            approval_status=None,
            parameter_format="positional",
            header_format="none",
            header_text=None,
            header_link=None,
            footer=None,
            buttons=(),
            content_sid=None,
        )
    return _check_registered(cleaned)


def _check_registered(t: Template) -> Template:
    if t.channel != "whatsapp":
        raise ValidationError("Only WhatsApp templates are registered with a provider; choose the WhatsApp channel.")
    provider_name = _clean_text(t.provider_name).lower()
    if not PROVIDER_NAME_RE.match(provider_name):
        raise ValidationError(
            "Enter the template's name at WhatsApp exactly as registered: lowercase letters, digits and "
            "underscores (e.g. appointment_reminder)."
        )
    language = _clean_text(t.language)
    if not LANGUAGE_RE.match(language):
        raise ValidationError(f"“{language}” is not a WhatsApp language code; use one such as en_US, es or pt_BR.")
    if t.category not in CATEGORIES:
        raise ValidationError("Choose the template's category: marketing, utility or authentication.")
    if t.approval_status not in APPROVAL:
        raise ValidationError("Choose the template's approval status at WhatsApp.")
    if t.parameter_format not in PARAMETER_FORMATS:
        raise ValidationError("Choose how WhatsApp knows the variables: positional or named.")
    content_sid = _clean_text(t.content_sid) or None
    if content_sid and not CONTENT_SID_RE.match(content_sid):
        raise ValidationError("A Twilio Content SID is “HX” followed by 32 hexadecimal characters.")
    if len(t.body) > MAX_REGISTERED_BODY:
        raise ValidationError(
            f"The text is {len(t.body):,} characters; a registered WhatsApp template's body can be at most "
            f"{MAX_REGISTERED_BODY:,}."
        )
    if VARIABLE_RE.match(t.body) or re.search(r"\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}$", t.body):
        raise ValidationError(
            "WhatsApp refuses a template whose text starts or ends with a variable; add words around it."
        )
    header_format = t.header_format if t.header_format in HEADER_FORMATS else "none"
    header_text = _clean_text(t.header_text) or None
    header_link = _clean_text(t.header_link) or None
    if header_format == "text":
        if not header_text:
            raise ValidationError("Write the header's text, or choose no header.")
        _check_braces(header_text, "header")
        if len(header_text) > MAX_HEADER:
            raise ValidationError(f"A header can be at most {MAX_HEADER} characters.")
        if "\n" in header_text:
            raise ValidationError("A header is one line.")
        if len(_names(header_text)) > 1:
            raise ValidationError("WhatsApp allows at most one variable in a text header.")
        header_link = None
    elif header_format in ("image", "video", "document"):
        if not header_link or not re.match(r"^https://[^\s{}]+$", header_link):
            raise ValidationError(
                f"A {header_format} header needs the https:// link of the file to send (without variables)."
            )
        header_text = None
    else:
        header_text = header_link = None
    footer = _clean_text(t.footer) or None
    if footer:
        if len(footer) > MAX_FOOTER:
            raise ValidationError(f"A footer can be at most {MAX_FOOTER} characters.")
        if BRACES_RE.search(footer):
            raise ValidationError("A footer cannot hold variables.")
    buttons = _check_buttons(t.buttons)
    checked = replace(
        t,
        provider_name=provider_name,
        language=language,
        content_sid=content_sid,
        header_format=header_format,
        header_text=header_text,
        header_link=header_link,
        footer=footer,
        buttons=buttons,
    )
    for part, names in (("header", component_variables(checked)["header"]), ("text", _names(checked.body))):
        if checked.named:
            bad = [n for n in names if not NAMED_PARAMETER_RE.match(n)]
            if bad:
                raise ValidationError(
                    f"WhatsApp's named parameters are lowercase letters, digits and underscores; "
                    f"rename {{{{{bad[0]}}}}} in the {part}."
                )
        else:
            repeated = [n for n in names if names.count(n) > 1]
            if repeated:
                raise ValidationError(
                    f"{{{{{repeated[0]}}}}} appears twice in the {part}; with positional parameters WhatsApp "
                    "numbers each one once: write it once, or register the template with named parameters."
                )
    return checked


def _check_buttons(buttons: tuple[Button, ...]) -> tuple[Button, ...]:
    if len(buttons) > MAX_BUTTONS:
        raise ValidationError(f"A WhatsApp template can have at most {MAX_BUTTONS} buttons.")
    kinds = [b.type for b in buttons]
    if kinds.count("url") > MAX_URL_BUTTONS:
        raise ValidationError(f"A WhatsApp template can have at most {MAX_URL_BUTTONS} website buttons.")
    if kinds.count("phone_number") > MAX_PHONE_BUTTONS:
        raise ValidationError("A WhatsApp template can have one phone-number button.")
    cleaned = []
    for n, b in enumerate(buttons, start=1):
        if b.type not in BUTTON_TYPES:
            raise ValidationError(f"Button {n}: choose quick reply, website or phone number.")
        if not b.text:
            raise ValidationError(f"Button {n} needs the text people tap.")
        if len(b.text) > MAX_BUTTON_TEXT:
            raise ValidationError(f"Button {n}'s text can be at most {MAX_BUTTON_TEXT} characters.")
        if BRACES_RE.search(b.text):
            raise ValidationError(f"Button {n}'s text cannot hold variables.")
        if b.type == "url":
            url = b.url or ""
            if not re.match(r"^https?://[^\s{}]+", url) or len(url) > MAX_URL:
                raise ValidationError(f"Button {n} needs the web address it opens (https://…).")
            _check_braces(url, f"button {n} address")
            names = _names(url)
            if len(names) > 1 or (names and not re.search(r"\{\{\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\}\}$", url)):
                raise ValidationError(f"Button {n}'s address may end in one variable, nowhere else.")
            cleaned.append(Button("url", b.text, url=url))
        elif b.type == "quick_reply":
            if b.payload and len(b.payload) > MAX_PAYLOAD:
                raise ValidationError(f"Button {n}'s reply payload can be at most {MAX_PAYLOAD} characters.")
            cleaned.append(Button("quick_reply", b.text, payload=b.payload or None))
        else:
            cleaned.append(Button("phone_number", b.text, phone=phones.parse_phone(b.phone)))
    quick = [k == "quick_reply" for k in kinds]
    if sum(a != b for a, b in zip(quick, quick[1:])) > 1:
        raise ValidationError("WhatsApp keeps quick replies together: put them before or after the other buttons.")
    return tuple(cleaned)


def sms_segments(t: Template, values: Mapping[str, str] | None = None) -> encoding.SegmentInfo:
    """Encoding and segments of the text filled with ``values`` (the samples by default)."""
    return encoding.sms_segments(render(t, values if values is not None else sample_values(t)).text)


def sample_values(t: Template) -> dict[str, str]:
    """The preview's values: the template's samples, else each variable's name in words."""
    return {n: (t.samples or {}).get(n) or n.replace("_", " ").capitalize() for n in variables(t)}


# ---- stored rows ------------------------------------------------------------------------------------

COLUMNS = (
    "id, name, kind, channel, body, registered, provider_name, language, category, approval_status, "
    "parameter_format, header_format, header_text, header_link, footer, buttons, content_sid, samples, active"
)


def from_row(row: Mapping[str, Any]) -> Template:
    samples = row.get("samples")
    return Template(
        id=row["id"],
        name=row["name"],
        kind=row.get("kind") or "conversation",
        channel=row.get("channel"),
        body=row["body"],
        registered=bool(row.get("registered")),
        provider_name=row.get("provider_name"),
        language=row.get("language") or "en_US",
        category=row.get("category"),
        approval_status=row.get("approval_status"),
        parameter_format=row.get("parameter_format") or "positional",
        header_format=row.get("header_format") or "none",
        header_text=row.get("header_text"),
        header_link=row.get("header_link"),
        footer=row.get("footer"),
        buttons=clean_buttons(row.get("buttons")),
        content_sid=row.get("content_sid"),
        samples=json.loads(samples) if samples else {},
        active=bool(row.get("active", True)),
    )


def parse_template_id(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise NotFound("That template does not exist.") from None
    if number <= 0:
        raise NotFound("That template does not exist.")
    return number


def get_template(db: Database, template_id: Any, *, active_only: bool = True) -> Template:
    """One template; ``NotFound`` when it does not exist (or is disabled, with ``active_only``)."""
    rows = db.dicts(f"SELECT {COLUMNS} FROM templates WHERE id = ?", [parse_template_id(template_id)])
    if not rows or (active_only and not rows[0]["active"]):
        raise NotFound("That template no longer exists or was disabled.")
    return from_row(rows[0])


def list_templates(
    db: Database,
    *,
    kind: str | None = None,
    channel: str | None = None,
    search: str | None = None,
    status: str = "active",
) -> list[Template]:
    """Templates for the Templates page (``status`` 'active' | 'disabled' | 'all') and the pickers.

    ``channel`` keeps templates of that channel and those for any channel."""
    where, params = ["TRUE"], []
    if status == "active":
        where.append("active")
    elif status == "disabled":
        where.append("NOT active")
    if kind:
        where.append("kind = ?")
        params.append(kind)
    if channel:
        where.append("(channel IS NULL OR channel = ?)")
        params.append(channel)
    text = (search or "").strip().lower()
    if text:
        where.append(
            "(contains(lower(name), ?) OR contains(lower(body), ?) OR contains(lower(coalesce(provider_name, '')), ?))"
        )
        params += [text] * 3
    rows = db.dicts(
        f"SELECT {COLUMNS} FROM templates WHERE {' AND '.join(where)} ORDER BY lower(name), language, id", params
    )
    return [from_row(r) for r in rows]


def sendable_row(row: dict[str, Any]) -> bool:
    """A template's row (or fields) goes as the registered template WhatsApp approved."""
    return bool(row.get("registered")) and row.get("channel") == "whatsapp" and row.get("approval_status") == "approved"


def composer_templates(
    db: Database, channel: str, *, templates_only: bool, search: str | None = None
) -> list[Template]:
    """What the composer's picker offers: Conversation templates for the channel; when the WhatsApp
    window is closed, only registered templates WhatsApp has approved."""
    found = list_templates(db, kind="conversation", channel=channel, search=search)
    if templates_only:
        found = [t for t in found if t.sendable_as_template]
    return sorted(found, key=lambda t: (not t.sendable_as_template, t.name.lower(), t.language))


def label(t: Template) -> str:
    """'Appointment reminder · WhatsApp · registered (es)' for pickers."""
    parts = [t.name, CHANNELS[t.channel] if t.channel in CHANNELS else str(t.channel)]
    if t.registered:
        status = APPROVAL.get(t.approval_status or "", "no status").lower()
        parts.append(f"registered, {status} ({t.language})")
    return " · ".join(parts)
