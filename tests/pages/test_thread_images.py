"""The thread's pictures are kept in the session so its live reruns do not read each file again,
but only so many: an agent who opens conversation after conversation of x-rays all day must not
hold every picture they ever saw in the server's memory."""

from __future__ import annotations

import types

from pages import thread_view

MB = 1_000_000


def test_the_pictures_kept_for_a_session_stay_within_a_bound(monkeypatch):
    reads: list[int] = []

    def read(rt, user, media_id):
        reads.append(media_id)
        return bytes([media_id % 256]) * MB

    monkeypatch.setattr(thread_view, "st", types.SimpleNamespace(session_state={}))
    monkeypatch.setattr(thread_view, "_media_bytes", read)
    monkeypatch.setattr(thread_view.media_sniff, "is_picture", lambda data: True)
    for media_id in range(1, 201):  # 200 pictures of 1 MB, one conversation after another
        assert len(thread_view._image_bytes(None, None, media_id)) == MB
    kept = thread_view.st.session_state["_thread_images"]
    assert sum(len(v or b"") for v in kept.values()) <= 32 * MB
    assert len(reads) == 200
    # The conversation on screen is redrawn from the session, not read again.
    for media_id in range(195, 201):
        thread_view._image_bytes(None, None, media_id)
    assert len(reads) == 200
