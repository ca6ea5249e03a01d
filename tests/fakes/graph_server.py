"""A loopback fake of Meta's Graph API for WhatsApp Cloud, over real HTTP.

    with FakeGraph() as fake:
        provider = WhatsAppCloudProvider(fake.access_token, "secret", "verify", "1065...", base_url=fake.url)
        fake.script(400, FakeGraph.error(131047, "Re-engagement message", details="..."))
        media_id = fake.add_media(b"...", "image/jpeg")

``POST /{version}/{phone-number-id}/messages`` checks the Bearer token and
the request shape (messaging_product, recipient_type, to, type and its
object) and answers ``{"messaging_product":"whatsapp","contacts":[...],
"messages":[{"id":"wamid...."}]}``. ``GET /{version}/{media-id}`` answers
the media JSON whose ``url`` points back here; that download also needs the
Bearer token. Scripted answers are used once each by the next send. The shared
failures apply to sends: ``fail_for`` answers the outage status and sends
nothing; ``delay_answers`` sends at once (``sent`` keeps each accepted body with
its wamid) and answers late.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.loopback import LoopbackFake

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class FakeGraph(LoopbackFake):
    def __init__(self, access_token: str = "EAAtest-token", api_version: str = "v21.0") -> None:
        super().__init__()
        self.access_token = access_token
        self.api_version = api_version
        self._media: dict[str, dict[str, Any]] = {}
        self.sent: list[tuple[str, dict[str, Any]]] = []  # (wamid, payload) of each accepted send

    # ---- programming (and ``script``, from LoopbackFake) ------------------------------------

    @staticmethod
    def error(code: int, message: str, details: str | None = None, type_: str = "OAuthException") -> dict[str, Any]:
        error: dict[str, Any] = {
            "message": message,
            "type": type_,
            "code": code,
            "fbtrace_id": "A" + secrets.token_hex(8),
        }
        if details is not None:
            error["error_data"] = {"messaging_product": "whatsapp", "details": details}
        return {"error": error}

    def add_media(
        self, data: bytes, mime_type: str = "image/jpeg", *, encoding: str = "hex", sha256: str | None = None
    ) -> str:
        """Store inbound media; its sha256 is given as hex or base64 (or ``sha256`` verbatim)."""
        digest = hashlib.sha256(data).digest()
        if sha256 is None:
            sha256 = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
        media_id = str(secrets.randbelow(10**15) + 10**15)
        self._media[media_id] = {
            "data": data,
            "mime_type": mime_type,
            "sha256": sha256,
            "token": secrets.token_urlsafe(12),
        }
        return media_id

    @property
    def sends(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/messages")]

    # ---- serving ------------------------------------------------------------------------------

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in h.headers.items()}
        with self._lock:
            self.requests.append(Recorded(h.command, parts.path, parts.query, headers, body))
        if headers.get("authorization") != f"Bearer {self.access_token}":
            return self._json(h, 401, self.error(190, "Invalid OAuth access token - Cannot parse access token"))
        segments = [s for s in parts.path.split("/") if s]
        if h.command == "GET" and len(segments) == 2 and segments[0] == "download":
            found = next((m for m in self._media.values() if m["token"] == segments[1]), None)
            if found is None:
                return self._json(h, 404, self.error(100, "Unsupported get request."))
            return self._reply(h, 200, found["data"], found["mime_type"])
        if not segments or segments[0] != self.api_version:
            return self._json(h, 400, self.error(2500, "Unknown path components", type_="OAuthException"))
        if h.command == "GET" and len(segments) == 2:
            media = self._media.get(segments[1])
            if media is None:
                return self._json(h, 400, self.error(100, "Unsupported get request.", type_="GraphMethodException"))
            return self._json(
                h,
                200,
                {
                    "messaging_product": "whatsapp",
                    "id": segments[1],
                    "mime_type": media["mime_type"],
                    "sha256": media["sha256"],
                    "file_size": len(media["data"]),
                    "url": f"{self.url}/download/{media['token']}",
                },
            )
        if h.command == "POST" and len(segments) == 3 and segments[2] == "messages":
            return self._send(h, body, headers)
        return self._json(h, 400, self.error(100, "Unsupported request"))

    def _send(self, h: BaseHTTPRequestHandler, body: bytes, headers: dict[str, str]) -> None:
        if self._scripts:
            s = self._scripts.popleft()
            if s.delay and self._stopping.wait(s.delay):
                return
            return self._json(h, s.status, s.body, s.headers)
        outage = self.failing()
        if outage is not None:
            status, answer = outage
            return self._json(h, status, answer if answer is not None else self.error(1, "An unknown error occurred"))
        problem = None
        try:
            payload = json.loads(body) if "application/json" in headers.get("content-type", "") else None
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            problem = "The request body must be JSON"
        else:
            problem = _shape_problem(payload)
        if problem:
            return self._json(h, 400, self.error(100, "(#100) Invalid parameter", details=problem))
        to = payload["to"]
        wamid = "wamid.HBgL" + base64.b64encode(secrets.token_bytes(24)).decode()
        with self._lock:
            self.sent.append((wamid, payload))
        if self.hold(self.answer_delay()):
            return
        self._json(
            h,
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid}],
            },
        )


def _shape_problem(p: dict[str, Any]) -> str | None:
    """What Meta would refuse in a send body, or None."""
    if p.get("messaging_product") != "whatsapp":
        return "messaging_product must be 'whatsapp'"
    if p.get("recipient_type", "individual") != "individual":
        return "recipient_type must be 'individual'"
    if not isinstance(p.get("to"), str) or not p["to"].lstrip("+").isdigit():
        return "Parameter 'to' is required and must be a phone number"
    kind = p.get("type")
    obj = p.get(kind) if isinstance(kind, str) else None
    if not isinstance(obj, dict):
        return f"Parameter '{kind}' object is required for type {kind!r}"
    if kind == "text":
        if not isinstance(obj.get("body"), str) or not obj["body"] or len(obj["body"]) > 4096:
            return "text.body is required (at most 4096 characters)"
    elif kind in MEDIA_TYPES:
        if not (obj.get("link") or obj.get("id")):
            return f"{kind}.link or {kind}.id is required"
        if "caption" in obj and kind in ("audio", "sticker"):
            return f"caption is not allowed for {kind}"
        if "filename" in obj and kind != "document":
            return "filename is only allowed for documents"
    elif kind == "template":
        if not obj.get("name") or not isinstance(obj.get("language"), dict) or not obj["language"].get("code"):
            return "template.name and template.language.code are required"
        for component in obj.get("components", []):
            for parameter in component.get("parameters", []):
                if parameter.get("type") == "text" and not isinstance(parameter.get("text"), str):
                    return "template text parameters need 'text'"
    else:
        return f"Unsupported message type {kind!r}"
    return None
