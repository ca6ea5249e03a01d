"""A loopback fake of Twilio's Messages API, over real HTTP.

    with FakeTwilio() as fake:
        provider = TwilioProvider(fake.account_sid, fake.auth_token, base_url=fake.url)
        fake.script(400, FakeTwilio.error(21610, "Attempt to send to unsubscribed recipient"))
        ...
        fake.requests[-1].form  # [("To", ...), ("MediaUrl", ...), ...]

It checks Basic auth (Account SID + Auth Token, or an API key pair), the
path and the required fields the way Twilio does, answers with a message
resource (``sid`` "SM…", ``status`` "queued"), and serves inbound media
behind Basic auth with a redirect to an unauthenticated "storage" URL.
Scripted answers (error bodies, 429 with Retry-After, 500, slow replies)
are used once each, in order, by the next Create Message calls.

Created messages are kept (``created``) and listed, newest first, by
``GET .../Messages.json`` with Twilio's filters ``To``, ``From`` and
``DateSent`` (also ``DateSent<`` and ``DateSent>``, a ``YYYY-MM-DD`` date),
paged with ``PageSize`` and ``next_page_uri``. The shared failures apply to
Create Message: during ``fail_for`` it answers the outage status and creates
nothing; with ``delay_answers`` it creates the message at once and answers
late (Twilio's "accepted, answered after the client's read timeout").
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.loopback import LoopbackFake


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    form: list[tuple[str, str]] = field(default_factory=list)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.form if k == name]

    def value(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None


class FakeTwilio(LoopbackFake):
    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str = "test-auth-token",
        api_key_sid: str | None = None,
        api_key_secret: str | None = None,
    ) -> None:
        super().__init__()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token
        self.api_key = (api_key_sid, api_key_secret) if api_key_sid else None
        self._media: dict[str, tuple[bytes, str]] = {}
        self.created: list[dict[str, Any]] = []  # message resources, in the order they were created
        self.forms: dict[str, list[tuple[str, str]]] = {}  # sid -> the Create Message form that made it
        self._contents: dict[str, int] = {}
        self._after_create: list[int] = []  # gateway errors answered after the message was created
        self._created_more = threading.Condition(self._lock)  # told each time ``created`` grows

    # ---- programming (and ``script``, from LoopbackFake) ------------------------------------

    @staticmethod
    def error(code: int, message: str, status: int = 400) -> dict[str, Any]:
        return {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def add_media(self, data: bytes, content_type: str = "image/jpeg") -> str:
        """Store an inbound attachment; returns its MediaUrl (needs Basic auth, then redirects)."""
        media_sid = "ME" + secrets.token_hex(16)
        self._media[media_sid] = (data, content_type)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{secrets.token_hex(16)}/Media/{media_sid}"

    def gateway_error_after_create(self, status: int, count: int = 1) -> None:
        """The next ``count`` sends are created, then answered ``status`` (a 502 or 504 from a gateway
        in front of Twilio that gave up waiting for the API that acted)."""
        with self._lock:
            self._after_create += [status] * count

    def register_content(self, content_sid: str, variables: int = 0) -> None:
        """A Content API template (HX…) taking ``variables`` numbered variables, "1"…"n". Once any is
        registered, a ContentSid Twilio does not know is refused (21655)."""
        self._contents[content_sid] = variables

    @property
    def sends(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/Messages.json")]

    @property
    def lookups(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "GET" and r.path.endswith("/Messages.json")]

    def wait_created(self, count: int, timeout: float) -> bool:
        """Whether ``count`` messages have been created within ``timeout`` seconds (woken by each one)."""
        with self._created_more:
            return self._created_more.wait_for(lambda: len(self.created) >= count, timeout)

    def created_bodies(self) -> list[str]:
        with self._lock:
            return [m["body"] for m in self.created]

    # ---- serving ------------------------------------------------------------------------------

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        form = (
            parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            if "x-www-form-urlencoded" in headers.get("content-type", "")
            else []
        )
        with self._lock:
            self.requests.append(Recorded(h.command, parts.path, parts.query, headers, body, form))
        if parts.path.startswith("/storage/"):
            found = self._media.get(parts.path.rsplit("/", 1)[-1])
            return (
                self._reply(h, 200, found[0], found[1])
                if found
                else self._json(h, 404, self.error(20404, "Not found", 404))
            )
        if not self._authorised(headers.get("authorization", "")):
            return self._json(h, 401, self.error(20003, "Authenticate", 401))
        prefix = f"/2010-04-01/Accounts/{self.account_sid}/"
        if not parts.path.startswith(prefix):
            return self._json(h, 404, self.error(20404, "The requested resource was not found", 404))
        rest = parts.path[len(prefix) :]
        if h.command == "GET" and "/Media/" in rest:
            media_sid = rest.rsplit("/", 1)[-1]
            if media_sid not in self._media:
                return self._json(h, 404, self.error(20404, "The requested resource was not found", 404))
            return self._reply(h, 307, b"", "text/plain", {"Location": f"{self.url}/storage/{media_sid}"})
        if h.command == "POST" and rest == "Messages.json":
            return self._create_message(h, form)
        if h.command == "GET" and rest == "Messages.json":
            return self._list_messages(h, parts.query)
        return self._json(h, 404, self.error(20404, "The requested resource was not found", 404))

    def _authorised(self, header: str) -> bool:
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) in {(self.account_sid, self.auth_token), self.api_key}

    def _content_problem(self, fields: dict[str, str]) -> tuple[int, str] | None:
        sid = fields["ContentSid"]
        if not re.fullmatch(r"HX[0-9a-fA-F]{32}", sid) or (self._contents and sid not in self._contents):
            return 21655, "The ContentSid is Invalid"
        variables: Any = {}
        if "ContentVariables" in fields:
            try:
                variables = json.loads(fields["ContentVariables"])
            except ValueError:
                return 21656, "The ContentVariables Parameter is invalid"
            if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
                return 21656, "The ContentVariables Parameter is invalid"
        if sid in self._contents and sorted(variables) != sorted(str(i) for i in range(1, self._contents[sid] + 1)):
            return 21656, "The ContentVariables Parameter is invalid"
        return None

    def _create_message(self, h: BaseHTTPRequestHandler, form: list[tuple[str, str]]) -> None:
        if self._scripts:
            s = self._scripts.popleft()
            if s.delay and self._stopping.wait(s.delay):
                return
            return self._json(h, s.status, s.body, s.headers)
        outage = self.failing()
        if outage is not None:
            status, body = outage
            return self._json(
                h, status, body if body is not None else self.error(20500, "Internal Server Error", status)
            )
        fields = dict(form)
        if not fields.get("To"):
            return self._json(h, 400, self.error(21604, "A 'To' phone number is required."))
        if not fields.get("From") and not fields.get("MessagingServiceSid"):
            return self._json(h, 400, self.error(21603, "A 'From' or 'MessagingServiceSid' parameter is required"))
        media = [v for k, v in form if k == "MediaUrl"]
        if not fields.get("Body") and not media and not fields.get("ContentSid"):
            return self._json(h, 400, self.error(21619, "A text message body, media URL or content SID is required"))
        if fields.get("ContentSid"):
            problem = self._content_problem(fields)
            if problem:
                return self._json(h, 400, self.error(*problem))
        sid = ("MM" if media else "SM") + secrets.token_hex(16)
        now = email.utils.formatdate(usegmt=True)
        sent_on = dt.datetime.now(dt.UTC).date().isoformat()
        resource = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": fields.get("Body", ""),
            "date_created": now,
            "date_sent": now,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": str(len(media)),
            "num_segments": "0" if fields.get("MessagingServiceSid") else "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if not fields.get("From") else "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": fields["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:
            self.created.append({**resource, "_sent_on": sent_on})
            self.forms[sid] = list(form)
            self._created_more.notify_all()
        if self.hold(self.answer_delay()):  # created, but answered late (or never: the fake stopped)
            return
        with self._lock:
            gateway = self._after_create.pop(0) if self._after_create else None
        if gateway is not None:
            return self._json(h, gateway, f"<html><body>{gateway} Gateway error</body></html>".encode())
        self._json(h, 201, resource)

    def _list_messages(self, h: BaseHTTPRequestHandler, query: str) -> None:
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            size = max(1, min(1000, int(params.get("PageSize") or 50)))
            page = max(0, int(params.get("Page") or 0))
        except ValueError:
            return self._json(h, 400, self.error(20001, "Invalid paging parameter"))
        with self._lock:
            found = [
                m
                for m in reversed(self.created)  # newest first, as Twilio lists them
                if (not params.get("To") or m["to"] == params["To"])
                and (not params.get("From") or m["from"] == params["From"])
                and (not params.get("DateSent") or m["_sent_on"] == params["DateSent"])
                and (not params.get("DateSent>") or m["_sent_on"] >= params["DateSent>"])
                and (not params.get("DateSent<") or m["_sent_on"] <= params["DateSent<"])
            ]
        chunk = [{k: v for k, v in m.items() if not k.startswith("_")} for m in found[page * size : (page + 1) * size]]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        keep = [(k, v) for k, v in params.items() if k not in ("Page", "PageToken")]

        def uri(n: int) -> str:
            return base + "?" + urlencode([*keep, ("Page", str(n)), ("PageToken", f"PA{n}")])

        more = (page + 1) * size < len(found)
        self._json(
            h,
            200,
            {
                "messages": chunk,
                "page": page,
                "page_size": size,
                "start": page * size,
                "end": page * size + max(0, len(chunk) - 1),
                "uri": base + "?" + query,
                "first_page_uri": uri(0),
                "next_page_uri": uri(page + 1) if more else None,
                "previous_page_uri": uri(page - 1) if page else None,
            },
        )
