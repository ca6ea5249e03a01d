"""What the provider fakes share: a threaded HTTP server on a free loopback port, the
requests it received, answers scripted in advance (each used once, optionally late), and
the ways real providers fail (each fake decides where they apply; see its docstring):

- ``fail_for(seconds, status)``: an outage, answering ``status`` (500 by default) and doing
  nothing, then healthy again;
- ``delay_answers(seconds)``: the work is done at once but the answer comes late (past a read
  timeout: the client cannot know the request was acted on);
- ``refuse_connections()`` / ``accept_connections()``: the server goes away (connections are
  refused and open ones are closed), then comes back on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
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

    def setup(self) -> None:
        super().setup()
        self.server.fake._connections.add(self.connection)  # type: ignore[attr-defined]

    def finish(self) -> None:
        self.server.fake._connections.discard(self.connection)  # type: ignore[attr-defined]
        super().finish()

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
        self._port = 0
        self._connections: set[socket.socket] = set()
        self._fail_until = 0.0
        self._fail_answer: tuple[int, Any] = (500, None)
        self._answer_delay = 0.0
        self._delay_count: int | None = None

    def start(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._close_server()

    def _close_server(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for conn in list(self._connections):  # a provider that goes away drops its connections too
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- failures -----------------------------------------------------------------------------

    def fail_for(self, seconds: float, status: int = 500, body: Any = None) -> None:
        """For ``seconds``, answer ``status`` (with ``body``) and do nothing."""
        with self._lock:
            self._fail_until = time.monotonic() + seconds
            self._fail_answer = (status, body)

    def heal(self) -> None:
        """End an outage (``fail_for``) and slow answers (``delay_answers``) now."""
        with self._lock:
            self._fail_until, self._answer_delay, self._delay_count = 0.0, 0.0, None

    def failing(self) -> tuple[int, Any] | None:
        """The outage answer while ``fail_for`` lasts, else None."""
        with self._lock:
            return self._fail_answer if time.monotonic() < self._fail_until else None

    def delay_answers(self, seconds: float, count: int | None = None) -> None:
        """Do the work at once, answer ``seconds`` later (the next ``count`` requests, or all)."""
        with self._lock:
            self._answer_delay, self._delay_count = seconds, count

    def answer_delay(self) -> float:
        """How long to hold this answer (counts one of ``delay_answers``'s requests)."""
        with self._lock:
            if not self._answer_delay:
                return 0.0
            if self._delay_count is not None:
                if self._delay_count <= 0:
                    return 0.0
                self._delay_count -= 1
            return self._answer_delay

    def hold(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the fake stops meanwhile (then True: do not answer)."""
        return bool(seconds) and self._stopping.wait(seconds)

    def refuse_connections(self) -> None:
        """Go away: new connections are refused, open ones closed (the port stays reserved)."""
        self._close_server()
        self._server = None

    def accept_connections(self) -> None:
        """Come back on the same port."""
        deadline = time.monotonic() + 10
        while True:
            try:
                self.start()
                return
            except OSError:  # the old socket may linger a moment
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._port, "start() the fake first"
        return f"http://127.0.0.1:{self._port}"

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
