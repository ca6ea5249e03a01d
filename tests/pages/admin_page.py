"""What the admin page tests share."""

from __future__ import annotations

import re


def plain(markdown: str) -> str:
    """Text as the reader sees it (the pages escape Markdown in people's words)."""
    return re.sub(r"\\(.)", r"\1", markdown)


def errors(at) -> list[str]:
    return [e.value for e in at.exception] + [plain(e.value) for e in at.error]


def toasts(at) -> list[str]:
    return [plain(t.value) for t in at.toast]
