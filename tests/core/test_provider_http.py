"""Provider HTTP sessions: the environment's proxy and CA settings, read once per host."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests.sessions

from core.providers import http
from core.providers.base import ProviderError

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                   "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")  # fmt: skip


def environment(monkeypatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/parley/ca.pem")


def test_the_environment_still_decides_proxies_and_the_ca_bundle(monkeypatch):
    environment(monkeypatch)
    session = http.make_session()
    out = session.merge_environment_settings("https://api.twilio.com/2010-04-01/Messages.json", {}, False, True, None)
    assert out == {
        "proxies": {"https": "http://proxy.example:3128", "no": "127.0.0.1"},
        "stream": False,
        "verify": "/etc/parley/ca.pem",
        "cert": None,
    }
    local = session.merge_environment_settings("http://127.0.0.1:8080/fake", {}, False, True, None)
    assert local["proxies"] == {}  # NO_PROXY
    assert session.merge_environment_settings("https://x.example/", {}, False, False, None)["verify"] is False


def test_each_host_is_looked_up_once_and_answers_are_not_shared(monkeypatch):
    environment(monkeypatch)
    looked_up = []
    real = requests.sessions.get_environ_proxies
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda url, no_proxy=None: looked_up.append(url) or real(url, no_proxy),
    )
    session = http.make_session()
    for n in range(50):
        first = session.merge_environment_settings(f"https://api.twilio.com/Messages/{n}.json", {}, False, True, None)
    assert looked_up == ["https://api.twilio.com/Messages/0.json"]
    first["proxies"]["https"] = "http://changed.example"  # a caller's change stays its own
    again = session.merge_environment_settings("https://api.twilio.com/Messages.json", {}, False, True, None)
    assert again["proxies"]["https"] == "http://proxy.example:3128"
    session.merge_environment_settings("https://graph.facebook.com/v21.0/1/messages", {}, False, True, None)
    assert looked_up == ["https://api.twilio.com/Messages/0.json", "https://graph.facebook.com/v21.0/1/messages"]


# ---- media downloads: the time limit holds however slowly the bytes come (review finding 4) -------


class LoopbackServer:
    """Answers each connection on 127.0.0.1 with ``handler(conn, path)``, one thread per connection."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn) -> None:
        try:
            request = conn.recv(65536).decode("latin-1")
            self.handler(conn, request.split(" ")[1], self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


def trickle(conn, stop, head: bytes) -> None:
    conn.sendall(head)
    while not stop.is_set():
        conn.sendall(b"x")  # one byte every 0.2 s: never a read timeout
        time.sleep(0.2)


@pytest.fixture
def serve():
    servers = []

    def start(handler) -> str:
        servers.append(LoopbackServer(handler))
        return servers[-1].url

    yield start
    for server in servers:
        server.close()


def fetch(url: str, seconds: float):
    """fetch_allowed on another thread, as the applier's media pool runs it: (outcome, seconds taken)."""
    session = http.make_session(trust_env=False)
    outcome: list = []

    def run():
        try:
            outcome.append(http.fetch_allowed(session, url, provider="Twilio", allowed=[url.split("/media")[0]],
                                              timeout=(2, 5), seconds=seconds))  # fmt: skip
        except ProviderError as exc:
            outcome.append(str(exc))

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(10)
    return (outcome[0] if outcome else "still downloading after 10 s"), time.monotonic() - started


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 1000000\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nConnection: close\r\n\r\n",  # no length: EOF ends it
    ],
    ids=["with-length", "until-closed"],
)
def test_a_download_that_trickles_is_cut_off_at_the_time_limit(serve, head):
    """The limit was checked only once a 64 KB chunk had come, and each byte restarted the read
    timeout: a byte every 0.2 s kept a 60 s limit (here 1 s) from ever being reached."""
    url = serve(lambda conn, path, stop: trickle(conn, stop, head))
    outcome, took = fetch(url + "/media/1", seconds=1.0)
    assert outcome == "Media from Twilio took longer than 1 s to download."
    assert took < 4.0


def test_the_time_limit_counts_from_the_first_request_not_from_the_last_redirect(serve):
    def handler(conn, path, stop):
        if path == "/media/1":
            time.sleep(1.5)  # a slow first hop
            conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /media/2\r\nContent-Length: 0\r\n\r\n")
        else:
            trickle(conn, stop, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")

    url = serve(handler)
    outcome, took = fetch(url + "/media/1", seconds=2.5)
    assert outcome == "Media from Twilio took longer than 2.5 s to download."
    assert took < 3.8  # counted from the redirect it would be 1.5 + 2.5 s


def test_a_download_within_the_limits_is_whole(serve):
    body = bytes(range(256)) * 1000  # several reads' worth

    def handler(conn, path, stop):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 256000\r\n\r\n" + body)

    url = serve(handler)
    outcome, _ = fetch(url + "/media/1", seconds=5.0)
    assert outcome == body
