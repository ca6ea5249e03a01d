"""What the provider fakes share: a threaded HTTP server on a free loopback port, the
requests it received, and answers scripted in advance (each used once, optionally late)."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two send()s; with Nagle on, each answer would then wait for
    # the client's delayed ACK (~40 ms). Real providers answer at network speed.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._dispatch(self)  # type: ignore[attr-defined]

    do_POST = do_GET

    def log_message(self, *args) -> None:
        pass


class LoopbackFake:
    """Subclasses implement ``_dispatch(handler)`` and record what they receive in ``requests``."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._scripts: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, status: int, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0) -> None:
        """The next send answers this (once)."""
        self._scripts.append(Scripted(status, body, headers or {}, delay))

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def _json(self, h: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
        self._reply(h, status, data, "application/json", headers)

    @staticmethod
    def _reply(
        h: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", content_type)
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
