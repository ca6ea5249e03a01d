"""Transcript export (DESIGN.md rule 8): a conversation's record as PDF and TXT, together.

Only admins and the conversation's current assignee may export; anyone else
(a supervisor, another agent, a crafted URL) is refused here, and the
refusal is checked again inside the transaction that writes the audit entry,
so a conversation reassigned while its transcript was being laid out is not
handed to its former owner. Every export is in the audit log.

The TXT is the exact text (UTF-8, emoji and every script as typed). The PDF
draws the same lines with fonts shipped as Python packages
(``core.transcripts.pdf``). Media appear as ``[📎 image: receipt.jpg]``;
the files themselves stay downloadable one by one from the conversation.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import audit, clock, permissions, queries
from core.auth import User
from core.db import Database, Transaction
from core.errors import PermissionDenied
from core.transcripts import model
from core.transcripts.model import Header, Line, TranscriptData
from core.transcripts.txt import render_txt

Progress = Callable[[float, str], None]


@dataclass
class Transcript:
    conversation_id: int
    message_count: int
    base_name: str
    txt: str
    pdf: bytes
    pages: int

    @property
    def txt_name(self) -> str:
        return f"{self.base_name}.txt"

    @property
    def pdf_name(self) -> str:
        return f"{self.base_name}.pdf"

    @property
    def zip_name(self) -> str:
        return f"{self.base_name}.zip"

    def zip_bytes(self) -> bytes:
        """Both files in one archive, for one download."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(self.pdf_name, self.pdf)
            archive.writestr(self.txt_name, self.txt.encode("utf-8"))
        return buffer.getvalue()


def may_export(viewer: User, owner_id: int | None) -> bool:
    return viewer.is_admin or (viewer.can_send and owner_id is not None and owner_id == viewer.id)


def _refusal(viewer: User) -> str:
    if viewer.is_supervisor:
        return "Supervisors can read conversations but not export them; an admin or the assigned agent can."
    return "Only an admin or the agent this conversation is assigned to can export its transcript."


def check_export(db: Database, viewer: User, conversation_id: Any) -> dict[str, Any]:
    """The conversation, if ``viewer`` may export it; PermissionDenied/NotFound with one sentence otherwise."""
    detail = queries.conversation_detail(db, viewer, conversation_id)  # refuses what they may not even see
    if not may_export(viewer, detail["owner_id"]):
        raise PermissionDenied(_refusal(viewer))
    return detail


def load(db: Database, media: Any, viewer: User, detail: dict[str, Any], now: dt.datetime) -> TranscriptData:
    """Every message of the conversation, oldest first, as the transcript shows it."""
    cid = detail["conversation_id"]
    tz = model.zone(viewer.timezone)
    rows = db.dicts(
        """SELECT m.id, m.direction, m.body, m.status, m.error_code, m.error_reason, m.created_at, m.release_at,
                  m.campaign_id, m.has_media, a.display_name AS author_name, cp.name AS campaign_name
           FROM messages m LEFT JOIN users a ON a.id = m.author_id LEFT JOIN campaigns cp ON cp.id = m.campaign_id
           WHERE m.conversation_id = ? ORDER BY m.created_at, m.id""",
        [cid],
    )
    files: dict[int, list[dict[str, Any]]] = {}
    with_media = [r["id"] for r in rows if r["has_media"]]
    if with_media:
        for item in db.dicts(
            "SELECT message_id, sha256, content_type, filename, size, created_at FROM media "
            "WHERE message_id = ANY(?::BIGINT[]) ORDER BY id",
            [with_media],
        ):
            files.setdefault(item["message_id"], []).append(item)
    contact = model.contact_label(detail["contact_name"], detail["contact_phone"])
    lines = [
        Line(
            message_id=r["id"],
            when=model.when(r["created_at"], tz),
            direction=r["direction"],
            author=model.author(r, contact),
            status=model.status_text(r, tz),
            body=model.visible(r["body"]),
            media=[model.media_line(item, not media.exists(item["sha256"]), tz) for item in files.get(r["id"], [])],
            missing_media=model.missing_media(r),
        )
        for r in rows
    ]
    if rows:
        period = f"{model.when(rows[0]['created_at'], tz)} to {model.when(rows[-1]['created_at'], tz)}"
    else:
        period = "no messages yet"
    sender = " ".join(x for x in (model.one_line(detail["sender_label"]), detail["sender_phone"] or "") if x)
    header = Header(
        conversation_id=cid,
        contact=contact,
        contact_phone=detail["contact_phone"],
        channel="WhatsApp" if detail["channel"] == "whatsapp" else "SMS",
        sender=sender,
        period=period,
        timezone=str(tz.key),
        exported_by=model.one_line(viewer.display_name),
        exported_at=model.when(now, tz),
        message_count=len(rows),
    )
    local_now = now.replace(tzinfo=dt.UTC).astimezone(tz)
    return TranscriptData(
        header=header,
        lines=lines,
        base_name=model.base_name(cid, detail["contact_name"], detail["contact_phone"], local_now),
    )


def export_transcript(
    db: Database, media: Any, viewer: User, conversation_id: Any, *, progress: Progress | None = None
) -> Transcript:
    """Build both files and record the export; refused for anyone but an admin or the assignee."""
    from core.transcripts.pdf import render_pdf

    say = progress or (lambda fraction, text: None)
    detail = check_export(db, viewer, conversation_id)
    now = clock.utcnow()
    say(0.0, "Reading the conversation")
    data = load(db, media, viewer, detail, now)
    say(0.05, "Writing the text file")
    txt = render_txt(data)
    pdf, pages = render_pdf(data, progress=lambda f, text: say(0.1 + 0.85 * f, text))
    say(0.97, "Recording the export")

    def record(tx: Transaction) -> None:
        # The exporter as they are now (disabled, or no longer an admin, meanwhile: no files), then the conversation.
        role = permissions.recheck_actor(tx, viewer, ("standard", "admin"), "export transcripts")
        owner = tx.scalar("SELECT owner_id FROM conversations WHERE id = ?", [data.header.conversation_id])
        if role != "admin" and viewer.is_admin and owner != viewer.id:
            raise PermissionDenied(
                "Your role changed a moment ago: you can no longer export this transcript; nothing was handed over."
            )
        if role != "admin" and owner != viewer.id:  # reassigned meanwhile: the files are not handed over
            raise PermissionDenied(
                "This conversation was reassigned while its transcript was being prepared; "
                "only an admin or its new assignee can export it now."
            )
        audit.record(
            tx,
            viewer.id,
            "conversation.transcript_exported",
            "conversation",
            data.header.conversation_id,
            messages=data.header.message_count,
            pages=pages,
            files=[f"{data.base_name}.pdf", f"{data.base_name}.txt"],
        )

    db.write(record)
    say(1.0, "Ready")
    return Transcript(
        conversation_id=data.header.conversation_id,
        message_count=data.header.message_count,
        base_name=data.base_name,
        txt=txt,
        pdf=pdf,
        pages=pages,
    )
