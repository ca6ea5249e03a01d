"""The benchmark workspace looks like real traffic: distinct texts of SMS-like length, many
languages, and a heavy tail of long threads (issue 13), checked at a small size."""

from __future__ import annotations

import datetime as dt

import pytest

from bench import generate
from core.db import Database


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    root = tmp_path_factory.mktemp("shape")
    assert generate.main(["--db", str(root / "shape.duckdb"), "--conversations", "6000", "--big", "2000"]) == 0
    db = Database(root / "shape.duckdb", read_only=True)
    yield db
    db.close()


def test_texts_are_nearly_all_distinct_and_sms_sized(shaped):
    # Campaign messages are one text with a first name in it, as real campaigns are; the rest
    # is what people write: nearly every text differs from every other.
    total, distinct, short, long = shaped.fetchone(
        """SELECT count(*), count(DISTINCT body), count(*) FILTER (WHERE length(body) <= 160),
                  count(*) FILTER (WHERE length(body) > 200)
           FROM messages WHERE campaign_id IS NULL"""
    )
    assert total > 50_000
    assert distinct / total > 0.95
    assert short / total > 0.9
    assert long / total > 0.01
    assert shaped.scalar("SELECT count(DISTINCT body) / count(*) FROM messages") > 0.8


def test_emoji_and_other_scripts_in_proportion(shaped):
    total, emoji, latin_only, cjk, arabic, cyrillic, devanagari = shaped.fetchone(
        r"""SELECT count(*),
                   count(*) FILTER (WHERE regexp_matches(body, '[\x{1F300}-\x{1FAFF}]')),
                   count(*) FILTER (WHERE NOT regexp_matches(body, '[^\x{0000}-\x{024F}\x{2000}-\x{2BFF}\x{1F000}-\x{1FFFF}]')),
                   count(*) FILTER (WHERE regexp_matches(body, '[\x{4E00}-\x{9FFF}\x{3040}-\x{30FF}]')),
                   count(*) FILTER (WHERE regexp_matches(body, '[\x{0600}-\x{06FF}]')),
                   count(*) FILTER (WHERE regexp_matches(body, '[\x{0400}-\x{04FF}]')),
                   count(*) FILTER (WHERE regexp_matches(body, '[\x{0900}-\x{097F}]'))
            FROM messages WHERE campaign_id IS NULL"""
    )
    assert 0.1 < emoji / total < 0.4
    assert 0.6 < latin_only / total < 0.9
    for script in (cjk, arabic, cyrillic, devanagari):
        assert 0.01 < script / total < 0.15


def test_thread_lengths_have_a_heavy_tail(shaped):
    n, median, short, hundred_plus, longest_ordinary, giants = shaped.fetchone(
        """SELECT count(*), median(message_count), count(*) FILTER (WHERE message_count <= 10),
                  count(*) FILTER (WHERE message_count >= 100),
                  max(message_count) FILTER (WHERE message_count < 2000),
                  count(*) FILTER (WHERE message_count = 2000)
           FROM conversations"""
    )
    assert n == 6001 and giants == 1
    assert 3 <= median <= 7
    assert short / n > 0.65
    assert 15 <= hundred_plus <= 120  # one in a few hundred
    assert longest_ordinary >= 200
    mean = shaped.scalar("SELECT count(*) FROM messages WHERE conversation_id IS NOT NULL") / n
    assert 9 < mean < 11


def test_two_years_of_history(shaped):
    first, last = shaped.fetchone("SELECT min(created_at), max(created_at) FROM messages")
    # 730 days of history; the first campaign may move back from a weekend or a holiday (at most
    # 4 days, at 16:30 UTC), so at some hours of some days it starts a little before: not 2 x 365.
    assert dt.timedelta(days=700) < last - first < dt.timedelta(days=734)
    per_quarter = [
        r[0]
        for r in shaped.fetchall(
            "SELECT count(*) FROM conversations GROUP BY date_trunc('quarter', created_at) ORDER BY 1"
        )
    ]
    assert len(per_quarter) >= 8 and min(per_quarter[1:-1]) > 200
