"""Provider HTTP sessions: the environment's proxy and CA settings, read once per host."""

from __future__ import annotations

import requests.sessions

from core.providers import http

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
