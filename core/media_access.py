"""Reading stored media: for the people allowed to see it, and for providers.

Agents read a file through its conversation's permission check. Providers
fetch outbound media by the unguessable token in ``/files/<token>``; only
files attached to outgoing messages are served that way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import media_rules, queries
from core.auth import User


def read_media(rt: Any, viewer: User, media_id: int) -> tuple[bytes, str, str]:
    item = queries.media_item(rt.db, viewer, media_id)
    return rt.media.read(item["sha256"]), item["content_type"], item["filename"]


def file_for_token(rt: Any, token: str) -> tuple[Path, str, str] | None:
    if not token or len(token) > 64:
        return None
    rows = rt.db.fetchall(
        "SELECT md.sha256, md.content_type, md.filename, md.created_at FROM media md "
        "JOIN messages m ON m.id = md.message_id "
        "WHERE md.token = ? AND m.direction = 'out'",
        [token],
    )
    if not rows:
        return None
    sha, content_type, filename, created_at = rows[0]
    path = rt.media.path(sha)
    # Served with a name that says what it is (UTC: no reader's zone here), never a bare media id.
    name = media_rules.download_name(filename, content_type, created_at)
    return (path, content_type, name) if path.exists() else None
