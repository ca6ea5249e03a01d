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
        self._templates: dict[tuple[str, str], dict[str, Any]] = {}

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

    def register_template(
        self,
        name: str,
        language: str = "en_US",
        *,
        header: str | None = None,
        body: int | list[str] = 0,
        buttons: dict[int, str] | None = None,
    ) -> None:
        """An approved template, as Meta holds it. ``header``: None, 'text' (one parameter) or a media
        kind; ``body``: how many positional parameters, or the names of named ones; ``buttons``: index →
        sub_type of the buttons that take a parameter. Once any template is registered, sends of
        templates are checked against them the way Meta checks (errors 132001, 132000, 132012)."""
        self._templates[(name, language)] = {"header": header, "body": body, "buttons": dict(buttons or {})}

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
        if payload.get("type") == "template" and self._templates:
            refusal = self._template_problem(payload["template"])
            if refusal:
                return self._json(h, 400, self.error(refusal[0], refusal[1], details=refusal[2]))
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

    def _template_problem(self, t: dict[str, Any]) -> tuple[int, str, str] | None:
        known = self._templates.get((t["name"], t["language"]["code"]))
        if known is None:
            return (
                132001,
                "Template name does not exist in the translation",
                (f"template name ({t['name']}) does not exist in {t['language']['code']}"),
            )
        by_part: dict[str, list[dict[str, Any]]] = {}
        buttons: dict[int, tuple[str, list]] = {}
        for component in t.get("components", []):
            if component["type"] == "button":
                buttons[int(component["index"])] = (component["sub_type"], component.get("parameters", []))
            else:
                by_part[component["type"]] = component.get("parameters", [])
        header = by_part.get("header", [])
        expected_header = 0 if known["header"] is None else 1
        if len(header) != expected_header:
            return (
                132000,
                "Number of parameters does not match the expected number of params",
                (
                    f"header: number of localizable_params ({len(header)}) does not match the expected number of "
                    f"params ({expected_header})"
                ),
            )
        if known["header"] not in (None, "text") and header[0].get("type") != known["header"]:
            return (
                132012,
                "Parameter format does not match format in the created template",
                (f"header: Format mismatch, expected {known['header'].upper()}, received {header[0].get('type')}"),
            )
        body = by_part.get("body", [])
        named = known["body"] if isinstance(known["body"], list) else None
        expected = len(named) if named is not None else known["body"]
        if len(body) != expected:
            return (
                132000,
                "Number of parameters does not match the expected number of params",
                (
                    f"body: number of localizable_params ({len(body)}) does not match the expected number of "
                    f"params ({expected})"
                ),
            )
        if named is not None and sorted(p.get("parameter_name") or "" for p in body) != sorted(named):
            return (
                132012,
                "Parameter format does not match format in the created template",
                ("body: named parameters expected: " + ", ".join(named)),
            )
        if named is None and any("parameter_name" in p for p in body):
            return (
                132012,
                "Parameter format does not match format in the created template",
                ("body: this template takes positional parameters"),
            )
        if {i: b[0] for i, b in buttons.items()} != known["buttons"] or any(len(b[1]) != 1 for b in buttons.values()):
            return (
                132000,
                "Number of parameters does not match the expected number of params",
                (f"buttons: expected parameters for {known['buttons']}, received {buttons}"),
            )
        return None


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
            problem = _component_problem(component)
            if problem:
                return problem
    else:
        return f"Unsupported message type {kind!r}"
    return None


def _component_problem(component: Any) -> str | None:
    """Meta's send-time component shape: header/body/button, a button's sub_type and index, and
    parameters of known types; text without line breaks, tabs or five spaces in a row (132018)."""
    if not isinstance(component, dict) or component.get("type") not in ("header", "body", "button"):
        return "components[].type must be header, body or button"
    if component["type"] == "button":
        if component.get("sub_type") not in ("quick_reply", "url", "copy_code", "flow", "catalog"):
            return "a button component needs a sub_type"
        if not isinstance(component.get("index"), str) or not component["index"].isdigit():
            return "a button component needs its index as a string"
    parameters = component.get("parameters")
    if not isinstance(parameters, list) or not parameters:
        return f"{component['type']} component needs parameters"
    for parameter in parameters:
        kind = parameter.get("type")
        if kind == "text":
            text = parameter.get("text")
            if not isinstance(text, str) or not text:
                return "template text parameters need 'text'"
            if any(c in text for c in "\n\t") or "     " in text:
                return "(#132018) Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
        elif kind == "payload":
            if not isinstance(parameter.get("payload"), str):
                return "payload parameters need 'payload'"
        elif kind in ("image", "video", "document"):
            if not isinstance(parameter.get(kind), dict) or not parameter[kind].get("link"):
                return f"{kind} parameters need {kind}.link"
        else:
            return f"Unsupported parameter type {kind!r}"
    return None
