"""Reading stored media: for the people allowed to see it, and for providers.

Agents read a file through its conversation's permission check. Providers
fetch outbound media by the unguessable token in ``/files/<token>``; only
files attached to outgoing messages are served that way, and only while a
provider may still fetch them: while the message waits to go (queued,
sending, interrupted) and for ``FETCH_GRACE`` after it was last handed to the
provider (its newest claim; a message sent past the outbox, when it was
written). A late status callback (a WhatsApp *read* days later) does not open
it again; a Retry does, since the provider fetches the file anew.
The token is a bearer credential that providers keep in their logs and
consoles; a message that has gone, or was never to go (*not sent*), opens
nothing. A retried message is queued again, and its file with it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from core import clock, media_rules, queries, sessions
from core.auth import User
from core.errors import PermissionDenied

FETCH_GRACE = dt.timedelta(hours=24)  # a provider may fetch the file a while after it accepted the send
WAITING = ("queued", "sending", "interrupted")  # still to go out: the provider has yet to fetch


def read_media(rt: Any, viewer: User, media_id: int) -> tuple[bytes, str, str]:
    item = queries.media_item(rt.db, viewer, media_id)
    return rt.media.read(item["sha256"]), item["content_type"], item["filename"]


def read_media_for_session(rt: Any, session_id: Any, media_id: int) -> tuple[bytes, str, str]:
    """``read_media`` for the user of a session, checked now: for a download button the thread drew
    earlier and Streamlit runs on the click, outside any page run. A session that ended since
    (signed out here or everywhere, password reset, account disabled, idle) gets nothing, and a
    changed role reads as the role is now."""
    viewer = sessions.check(rt.db, session_id)
    if viewer is None:
        raise PermissionDenied("Your session has ended; sign in again to download this file.")
    return read_media(rt, viewer, media_id)


def file_for_token(rt: Any, token: str) -> tuple[Path, str, str] | None:
    if not token or len(token) > 64:
        return None
    rows = rt.db.fetchall(
        "SELECT md.sha256, md.content_type, md.filename, md.created_at FROM media md "
        "JOIN messages m ON m.id = md.message_id "
        "WHERE md.token = ? AND m.direction = 'out' AND m.status <> 'not_sent' "
        "AND (m.status IN (?, ?, ?) OR coalesce((SELECT max(o.claimed_at) FROM outbox o WHERE o.message_id = m.id), "
        "m.created_at) >= ?)",
        [token, *WAITING, clock.utcnow() - FETCH_GRACE],
    )
    if not rows:
        return None
    sha, content_type, filename, created_at = rows[0]
    path = rt.media.path(sha)
    # Served with a name that says what it is (UTC: no reader's zone here), never a bare media id.
    name = media_rules.download_name(filename, content_type, created_at)
    return (path, content_type, name) if path.exists() else None
