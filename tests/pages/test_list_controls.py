"""The pager's words (``pages.list_controls.page_range``)."""

from __future__ import annotations

from core.queries import Page
from pages.list_controls import page_range


def test_page_range_reads_like_a_mail_client():
    assert page_range(Page(rows=[], total=312, page=0, page_size=50)) == "1–50 of 312"
    assert page_range(Page(rows=[], total=312, page=6, page_size=50)) == "301–312 of 312"


def test_a_capped_total_says_there_are_more():
    assert page_range(Page(rows=[], total=1000, page=0, page_size=50, capped=True)) == "1–50 of 1,000+"
