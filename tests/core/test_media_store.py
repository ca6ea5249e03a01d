"""MediaStore: content-addressed, atomic, idempotent, no path traversal."""

from __future__ import annotations

import hashlib
import threading

import pytest

from core.errors import NotFound, ValidationError
from core.media_store import MediaStore


def test_put_stores_by_sha256_and_reads_back(tmp_path):
    store = MediaStore(tmp_path / "media")
    data = b"\x89PNG fake image bytes"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == tmp_path / "media" / sha[:2] / sha
    assert store.exists(sha)
    assert store.read(sha) == data


def test_put_is_idempotent_and_leaves_no_temp_files(tmp_path):
    store = MediaStore(tmp_path)
    first = store.put(b"same bytes")
    mtime = store.path(first).stat().st_mtime_ns
    assert store.put(b"same bytes") == first
    assert store.path(first).stat().st_mtime_ns == mtime  # not rewritten
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == [store.path(first)]


def test_put_accepts_empty_and_bytearray(tmp_path):
    store = MediaStore(tmp_path)
    assert store.read(store.put(b"")) == b""
    assert store.read(store.put(bytearray(b"abc"))) == b"abc"
    with pytest.raises(TypeError):
        store.put("text, not bytes")  # type: ignore[arg-type]


def test_concurrent_puts_of_the_same_content(tmp_path):
    store = MediaStore(tmp_path)
    data = bytes(range(256)) * 4000
    results = []
    threads = [threading.Thread(target=lambda: results.append(store.put(data))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert store.read(results[0]) == data
    assert not [p for p in tmp_path.rglob(".tmp-*")]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "abc",
        "../" + "a" * 61,
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "/" + "a" * 63,
        "..%2f" + "a" * 59,
        "a" * 62 + "\n",
        None,
        123,
    ],
)
def test_rejects_anything_but_64_hex_digits(tmp_path, bad):
    store = MediaStore(tmp_path)
    with pytest.raises(ValidationError):
        store.path(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        store.read(bad)  # type: ignore[arg-type]
    assert store.exists(bad) is False  # type: ignore[arg-type]


def test_uppercase_hash_is_the_same_file(tmp_path):
    store = MediaStore(tmp_path)
    sha = store.put(b"x")
    assert store.read(sha.upper()) == b"x"


def test_missing_file_is_not_found(tmp_path):
    store = MediaStore(tmp_path)
    with pytest.raises(NotFound):
        store.read("0" * 64)
    assert not store.exists("0" * 64)
