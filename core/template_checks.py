"""Checking a template an admin saves: ``check_template`` cleans it or refuses, one sentence
each, whatever Meta (or Parley) would refuse: names, lengths, variables, the registered
shape (provider name, language, category, header, footer, buttons, samples).

What a template is, how it is filled and stored: ``core.templates``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from core import phones
from core.errors import ValidationError
from core.templates import (
    APPROVAL,
    BRACES_RE,
    BUTTON_TYPES,
    CATEGORIES,
    CHANNELS,
    CONTENT_SID_RE,
    HEADER_FORMATS,
    KINDS,
    LANGUAGE_RE,
    MAX_BODY,
    MAX_BUTTON_TEXT,
    MAX_BUTTONS,
    MAX_FOOTER,
    MAX_HEADER,
    MAX_NAME,
    MAX_PAYLOAD,
    MAX_PHONE_BUTTONS,
    MAX_REGISTERED_BODY,
    MAX_URL,
    MAX_URL_BUTTONS,
    NAMED_PARAMETER_RE,
    PARAMETER_FORMATS,
    PROVIDER_NAME_RE,
    VARIABLE_RE,
    Button,
    Template,
    clean_text,
    component_variables,
    variable_names,
)


def _check_braces(text: str, where: str) -> None:
    for inner in BRACES_RE.findall(text or ""):
        if not re.fullmatch(r"\s*[a-zA-Z_][a-zA-Z0-9_]*\s*", inner):
            raise ValidationError(
                f"“{{{{{inner}}}}}” in the {where} is not a variable: use a name such as {{{{first_name}}}} "
                "(letters, digits and underscores)."
            )


def check_template(t: Template) -> Template:
    """The template cleaned, or one sentence saying what Meta (or Parley) would refuse."""
    name = " ".join(clean_text(t.name).split())
    if not name:
        raise ValidationError("Give the template a name.")
    if len(name) > MAX_NAME:
        raise ValidationError(f"A template name can be at most {MAX_NAME} characters.")
    if t.kind not in KINDS:
        raise ValidationError("Choose the template's type: Conversation or Campaign.")
    channel = t.channel or None
    if channel not in CHANNELS:
        raise ValidationError("Choose the template's channel: SMS, WhatsApp or any channel.")
    body = clean_text(t.body)
    if not body:
        raise ValidationError("Write the template's text.")
    if "\x00" in body:
        raise ValidationError("The text contains a NUL character, which cannot be sent; remove it.")
    _check_braces(body, "text")
    if len(body) > MAX_BODY[channel]:
        raise ValidationError(
            f"The text is {len(body):,} characters; {CHANNELS[channel]} templates can be at most {MAX_BODY[channel]:,}."
        )
    samples = {str(k): clean_text(v) for k, v in (t.samples or {}).items() if clean_text(v)}
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
    provider_name = clean_text(t.provider_name).lower()
    if not PROVIDER_NAME_RE.match(provider_name):
        raise ValidationError(
            "Enter the template's name at WhatsApp exactly as registered: lowercase letters, digits and "
            "underscores (e.g. appointment_reminder)."
        )
    language = clean_text(t.language)
    if not LANGUAGE_RE.match(language):
        raise ValidationError(f"“{language}” is not a WhatsApp language code; use one such as en_US, es or pt_BR.")
    if t.category not in CATEGORIES:
        raise ValidationError("Choose the template's category: marketing, utility or authentication.")
    if t.approval_status not in APPROVAL:
        raise ValidationError("Choose the template's approval status at WhatsApp.")
    if t.parameter_format not in PARAMETER_FORMATS:
        raise ValidationError("Choose how WhatsApp knows the variables: positional or named.")
    content_sid = clean_text(t.content_sid) or None
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
    header_text = clean_text(t.header_text) or None
    header_link = clean_text(t.header_link) or None
    if header_format == "text":
        if not header_text:
            raise ValidationError("Write the header's text, or choose no header.")
        _check_braces(header_text, "header")
        if len(header_text) > MAX_HEADER:
            raise ValidationError(f"A header can be at most {MAX_HEADER} characters.")
        if "\n" in header_text:
            raise ValidationError("A header is one line.")
        if len(variable_names(header_text)) > 1:
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
    footer = clean_text(t.footer) or None
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
    for part, names in (("header", component_variables(checked)["header"]), ("text", variable_names(checked.body))):
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
            names = variable_names(url)
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
