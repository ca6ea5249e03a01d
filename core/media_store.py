"""Media files stored once by content hash (sha256) under one directory.

``root/ab/abcdef…`` holds the bytes whose sha256 is ``abcdef…``. A file is
written to a temporary name in the same directory and renamed into place,
so a reader never sees half a file and two writers of the same content
cannot corrupt each other. Storing the same bytes twice writes nothing the
second time. The database keeps the hash, type, name and size (``media``
table); this store only keeps bytes.

Hashes come from the database and URLs, so anything that is not exactly 64
hex digits is refused before it is turned into a path (no traversal).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from core.errors import NotFound, ValidationError

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def check_sha(sha256: str) -> str:
    """The hash, lowercased, or ValidationError when it is not 64 hex digits."""
    if not isinstance(sha256, str) or not _SHA_RE.match(sha256.lower()):
        raise ValidationError("That is not a valid media file reference.")
    return sha256.lower()


class MediaStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        sha = check_sha(sha256)
        return self.root / sha[:2] / sha

    def exists(self, sha256: str) -> bool:
        try:
            return self.path(sha256).is_file()
        except ValidationError:
            return False

    def put(self, data: bytes) -> str:
        """Store ``data`` (idempotent) and return its sha256 hex digest."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("MediaStore.put takes bytes")
        data = bytes(data)
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if target.is_file() and target.stat().st_size == len(data):
            return sha
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        return sha

    def read(self, sha256: str) -> bytes:
        path = self.path(sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise NotFound("That file is no longer stored.") from None
