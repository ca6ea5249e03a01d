"""Reading stored media: for the people allowed to see it, and for providers.

Agents read a file through its conversation's permission check. Providers
fetch outbound media by the unguessable token in ``/files/<token>``; only
files attached to outgoing messages are served that way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import queries
from core.auth import User


def read_media(rt: Any, viewer: User, media_id: int) -> tuple[bytes, str, str]:
    item = queries.media_item(rt.db, viewer, media_id)
    return rt.media.read(item["sha256"]), item["content_type"], item["filename"]


def file_for_token(rt: Any, token: str) -> tuple[Path, str, str] | None:
    if not token or len(token) > 64:
        return None
    rows = rt.db.fetchall(
        "SELECT md.sha256, md.content_type, md.filename FROM media md JOIN messages m ON m.id = md.message_id "
        "WHERE md.token = ? AND m.direction = 'out'",
        [token],
    )
    if not rows:
        return None
    sha, content_type, filename = rows[0]
    path = rt.media.path(sha)
    return (path, content_type, filename) if path.exists() else None
