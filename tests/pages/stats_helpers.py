"""What the Stats page tests share: run a page as a role, read what it shows."""

from __future__ import annotations

import datetime as dt

import pytest

from core import stats_filter


def captions(at) -> list[str]:
    return [str(c.value).replace("\\", "") for c in at.caption]


def shown(at) -> str:
    parts = []
    for kind in ("header", "subheader", "caption", "markdown", "info", "warning", "error", "metric"):
        for element in getattr(at, kind):
            parts.append(str(getattr(element, "value", "")) + " " + str(getattr(element, "label", "")))
    return "\n".join(parts)


def charts(at) -> int:
    return len(at.get("plotly_chart"))


def downloads(at) -> list[str]:
    return [str(e.proto.label) for e in at.get("download_button")]


def page_errors(at) -> list:
    return list(at.exception)


def far_past(timezone: str = "America/New_York") -> stats_filter.StatsFilter:
    return stats_filter.StatsFilter(start=dt.date(2020, 1, 1), end=dt.date(2020, 1, 31), timezone=timezone)


def check_roles(app_as, page: str, title: str, expected_charts: int) -> None:
    for username in ("sam", "admin"):
        at = app_as(username, page)
        assert not page_errors(at), at.exception
        assert title in shown(at)
        assert charts(at) == expected_charts
        assert downloads(at) and all(label == "Download CSV" for label in downloads(at))
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app_as("maria", page)  # an agent's navigation has no Stats pages at all
