"""The transcript as plain UTF-8 text: every character as typed (see ``model.visible``), each
message's lines indented under its date, direction and author."""

from __future__ import annotations

from core.transcripts.model import Line, TranscriptData

RULE = "-" * 72


def header_lines(data: TranscriptData) -> list[tuple[str, str]]:
    h = data.header
    return [
        ("Contact", isolate(h.contact)),
        ("Channel", h.channel),
        ("Sender", h.sender),
        ("Messages", f"{h.message_count:,}"),
        ("Period", h.period),
        ("Times in", h.timezone),
        ("Exported by", f"{h.exported_by}, {h.exported_at}"),
        ("Conversation", str(h.conversation_id)),
    ]


# First-strong isolates around names: a right-to-left name cannot reorder the text around it in an
# editor that applies the bidi algorithm (the PDF lays names out on their own instead).
FSI, PDI = "\u2068", "\u2069"


def isolate(text: str) -> str:
    return f"{FSI}{text}{PDI}"


# A message's lines (its text, its files) are indented: a customer's text may look like anything,
# and only the transcript's own lines (the header, each message's date, direction and author) start
# at the margin, so a body that imitates an agent's reply or an attachment cannot pass for one.
INDENT = "    "


def meta_line(line: Line) -> str:
    return f"[{line.when}] {line.arrow} · {isolate(line.author)} · {line.status}"


def render_txt(data: TranscriptData) -> str:
    out = ["Parley conversation transcript", ""]
    width = max(len(k) for k, _ in header_lines(data)) + 1
    out += [f"{(key + ':').ljust(width)} {value}" for key, value in header_lines(data)]
    out += ["", RULE]
    if not data.lines:
        out += ["", "This conversation has no messages yet."]
    for line in data.lines:
        out += ["", meta_line(line)]
        shown = (line.body.split("\n") if line.body else []) + [m.label() for m in line.media] + line.missing_media
        out += [f"{INDENT}{text}" if text else "" for text in shown]
    out.append("")
    return "\n".join(out)
