"""Templates as stored: their columns, a row as a ``Template``, and the finders.

The finders serve the Templates page, the campaign and composer pickers and the senders
(``core.actions``, ``core.delivery``). Separate from ``core.templates`` (what a template is
and how it is filled, no database) because only this part reads the ``templates`` table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from core.db import Database
from core.errors import NotFound
from core.templates import APPROVAL, CHANNELS, Template, clean_buttons

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
