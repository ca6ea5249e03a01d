"""/api/blank-page: a signed-in tab that found its page blank after a run says so before it reloads."""

from __future__ import annotations

import logging

from core import sessions
from tests.routes.test_health_and_sign_in import signed_in


def report(client, cookie, body: bytes | str) -> int:
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set(sessions.COOKIE_NAME, cookie)
    return client.post("/api/blank-page", content=body, headers={"Content-Type": "application/json"}).status_code


def blank_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "parley.routes" and "blank page" in r.getMessage()]


def test_a_signed_in_tab_leaves_one_line_in_the_log(server, caplog):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    _ana, cookie = signed_in(rt, client, "ana", role="standard")
    caplog.set_level(logging.WARNING, logger="parley.routes")
    assert report(client, cookie, '{"path": "/inbox", "elements": 2, "since_leaving_ms": 4100}') == 204
    assert blank_lines(caplog) == [
        "blank page: a tab of @ana found '/inbox' blank after its run and reloaded it "
        "(2 elements left; 4100 ms after it last left a page)"
    ]


def test_only_a_signed_in_tab_is_heard(server, caplog):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    caplog.set_level(logging.WARNING, logger="parley.routes")
    assert report(client, None, '{"path": "/"}') == 401
    assert report(client, "1.123.forged", '{"path": "/"}') == 401
    assert blank_lines(caplog) == []


def test_what_the_browser_sends_is_quoted_cut_and_never_trusted(server, caplog):
    rt, client = server
    signed_in(rt, client, "boss", role="admin")
    _ana, cookie = signed_in(rt, client, "ana", role="standard")
    caplog.set_level(logging.WARNING, logger="parley.routes")
    # A path with a line break cannot forge a second log line; numbers that are not numbers (or not finite) are dropped.
    assert (
        report(client, cookie, '{"path": "/x\\nblank page: forged", "elements": "7", "since_leaving_ms": true}') == 204
    )
    assert report(client, cookie, '{"path": "/y", "elements": NaN, "since_leaving_ms": Infinity}') == 204
    assert report(client, cookie, "not json") == 204
    assert report(client, cookie, "[1, 2]") == 204
    assert report(client, cookie, '{"path": "' + "a" * 3000 + '"}') == 204  # over the 2 KB limit: no path
    assert report(client, cookie, '{"path": "/' + "b" * 500 + '"}') == 204
    lines = blank_lines(caplog)
    assert lines[0] == (
        "blank page: a tab of @ana found '/x\\nblank page: forged' blank after its run and reloaded it "
        "(None elements left; None ms after it last left a page)"
    )
    assert lines[1] == (
        "blank page: a tab of @ana found '/y' blank after its run and reloaded it "
        "(None elements left; None ms after it last left a page)"
    )
    assert (
        lines[2:5]
        == [
            "blank page: a tab of @ana found '' blank after its run and reloaded it "
            "(None elements left; None ms after it last left a page)"
        ]
        * 3
    )
    assert lines[5] == (
        "blank page: a tab of @ana found '/" + "b" * 199 + "' blank after its run and reloaded it "
        "(None elements left; None ms after it last left a page)"
    )
    assert all("\n" not in line for line in lines)
