"""One request straight through ASGI, with the bytes exactly as a client sent them.

Starlette's TestClient re-encodes header values as UTF-8, so a Cookie header holding b"\\xb2" (which a
real server such as uvicorn passes on as it came, and Starlette decodes as Latin-1: "²") never
reaches a route through it; and it hands over a body in one piece, so it cannot tell how much of a
streamed body a route read before it answered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int | None  # None: the route raised (a server answers 500 and logs the traceback)
    body: bytes
    pulled: int  # how many body chunks the route asked for


def call(
    app: Any,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    body: list[bytes] | None = None,
) -> Answer:
    """``method path`` with these raw headers; the body streamed in the pieces of ``body``."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": list(headers or []),
        "client": ("203.0.113.9", 40000),
        "server": ("testserver", 80),
    }
    pieces = body or [b""]
    sent: list[dict] = []
    pulled = 0

    async def receive() -> dict:
        nonlocal pulled
        if pulled >= len(pieces):
            return {"type": "http.disconnect"}  # the body is over: what is left is the client hanging up
        pulled += 1
        return {"type": "http.request", "body": pieces[pulled - 1], "more_body": pulled < len(pieces)}

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> int | None:
        try:
            await app(scope, receive, send)
        except Exception:
            return None
        return next(m["status"] for m in sent if m["type"] == "http.response.start")

    status = asyncio.run(run())
    answer = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(status, answer, pulled)


def json_answer(answer: Answer) -> tuple[int | None, Any]:
    return answer.status, json.loads(answer.body) if answer.body else None
