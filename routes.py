"""HTTP routes served beside the Streamlit UI by ``st.App``.

Thin Starlette adapters: each turns a request into a call into ``core``
(framework-free) and the result into a response. Blocking work runs in the
thread pool so the event loop keeps serving the UI's websockets.

Streamlit reserves ``/media/``, so outbound media for providers live under
``/files/<token>``.

Webhook bodies are read as a stream and refused (413) as soon as they pass
``ingest.MAX_BODY_BYTES``; a ``Content-Length`` above it is refused before
a byte is read. ``/noop`` (the same stack with no work: the webhook bench's
baseline) is served only when the bench asks for it with
``PARLEY_BENCH_ROUTES=1``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from core import auth, clock, ingest, runtime, sessions, versions
from core.errors import NotFound, PermissionDenied
from core.providers.base import WebhookRequest

log = logging.getLogger("parley.routes")


def _rt() -> runtime.Runtime:
    return runtime.current()


async def healthz(request: Request) -> Response:
    """ok (200) or not (503) for anyone; the details only for an admin or a local monitor.

    The details name the database file, the workers' states and their last
    exception text: an admin's session cookie, or the ``PARLEY_HEALTH_TOKEN``
    sent from this machine (``Authorization: Bearer …``), may read them.
    """
    health = await run_in_threadpool(_rt().health)
    status = 200 if health["ok"] else 503
    if await run_in_threadpool(_may_read_health_details, request):
        return JSONResponse(health, status_code=status)
    return JSONResponse({"ok": health["ok"]}, status_code=status)


def _is_local(request: Request) -> bool:
    """Is the caller on this machine? (A dual-stack server sees 127.0.0.1 as ``::ffff:127.0.0.1``.)"""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


def _may_read_health_details(request: Request) -> bool:
    rt = _rt()
    token = rt.config.health_token
    sent = request.headers.get("authorization", "")
    if token and sent.startswith("Bearer ") and _is_local(request):
        if hmac.compare_digest(sent[len("Bearer ") :].strip().encode(), token.encode()):
            return True
    try:
        user = _cookie_user(request)
    except Exception:  # whatever the cookie or the database does, /healthz answers (bare)
        log.exception("healthz: the cookie's session could not be checked; answering without details")
        return False
    return user is not None and user.is_admin


async def noop(request: Request) -> Response:
    """Same stack as the webhooks, no work: the bench's baseline (served only with PARLEY_BENCH_ROUTES=1)."""
    if not _rt().config.bench_routes:
        return PlainTextResponse("Not Found", status_code=404)
    try:
        await _limited_body(request, ingest.MAX_BODY_BYTES)
    except BodyTooLarge:
        return PlainTextResponse("Payload too large.", status_code=413)
    return PlainTextResponse("ok")


# ---- sign-in cookie -----------------------------------------------------------------------


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


TICKET_BODY_LIMIT = 256


async def session_cookie(request: Request) -> Response:
    """Trade a one-time ticket (from the sign-in form) for the HttpOnly session and device cookies.

    Anyone may post here: the body is read only up to ``TICKET_BODY_LIMIT`` (a ticket is 43
    characters), and anything longer is answered as an expired ticket."""
    expired = JSONResponse({"error": "This sign-in link has expired; sign in again."}, status_code=400)
    try:
        body = await _limited_body(request, TICKET_BODY_LIMIT)
    except BodyTooLarge:
        return expired
    ticket = auth.tickets.redeem(body.decode(errors="replace").strip())
    if ticket is None:
        return expired
    response = Response(status_code=204)
    for name, value, max_age in (
        (sessions.COOKIE_NAME, ticket.session_cookie, sessions.COOKIE_MAX_AGE),
        (sessions.DEVICE_COOKIE_NAME, ticket.device_token, sessions.DEVICE_COOKIE_MAX_AGE),
    ):
        response.set_cookie(
            name, value, max_age=max_age, httponly=True, samesite="lax", secure=_secure(request), path="/"
        )
    return response


async def sign_out(request: Request) -> Response:
    """End the cookie's session in the database (a copy of the cookie dies with it), then forget the cookie."""
    rt = _rt()
    await run_in_threadpool(sessions.end_cookie, rt.db, request.cookies.get(sessions.COOKIE_NAME), rt.config.secret_key)
    response = Response(status_code=204)
    response.delete_cookie(sessions.COOKIE_NAME, path="/", httponly=True, samesite="lax")
    return response


def _cookie_session(request: Request) -> tuple[auth.User, int] | None:
    """The user and session id of the request's cookie, if that session is live (no "last seen": not a page run)."""
    rt = _rt()
    return sessions.from_cookie(rt.db, request.cookies.get(sessions.COOKIE_NAME), rt.config.secret_key, touch=False)


def _cookie_user(request: Request) -> auth.User | None:
    found = _cookie_session(request)
    return found[0] if found else None


# ---- notifications (tab title and toasts) --------------------------------------------------


STREAM_MIN_INTERVAL = 1.0  # seconds between two looks at one user's unread count and notices


async def notifications(request: Request) -> Response:
    """Server-sent events: the user's unread count and new notices.

    An EventSource keeps delivering while the tab is in the background,
    where timers are throttled, so the title and toasts stay current.
    """
    found = await run_in_threadpool(_cookie_session, request)
    if found is None:
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    user, session_id = found
    from core import queries

    rt = _rt()
    try:
        last_notice = int(request.query_params.get("after", rt.feed.last_notice_id()))
    except ValueError:
        last_notice = rt.feed.last_notice_id()

    async def stream():
        nonlocal last_notice
        version = -1
        sent_unread = None
        while not await request.is_disconnected():
            # The session may end while the stream is open (sign-out, reset, disabled): stop then.
            if await run_in_threadpool(sessions.check, rt.db, session_id, touch=False) is None:
                return
            current = rt.feed.notify_version(user.id)
            if current != version:
                version = current
                unread = await run_in_threadpool(queries.unread_count, rt.db, user.id)
                notices = rt.feed.notices_for(user.id, last_notice)
                if notices:
                    last_notice = notices[-1].id
                if unread != sent_unread or notices:
                    sent_unread = unread
                    data = {
                        "unread": unread,
                        "version": version,  # the page keeps the newest count, the stream's or a rerun's
                        "notices": [
                            {"id": n.id, "kind": n.kind, "text": n.text, "conversation_id": n.conversation_id}
                            for n in notices
                        ],
                    }
                    yield f"id: {last_notice}\ndata: {json.dumps(data)}\n\n"
            else:
                yield ": keep-alive\n\n"
            # Woken only by this user's changes (or every 2 s for the keep-alive), never by each of
            # the team's: a webhook burst would otherwise spin every open page's stream. And at most
            # once a second: during a burst for this user's own inbox every message moves its version,
            # and a recount per message per open tab took the CPU the webhooks needed.
            await asyncio.sleep(STREAM_MIN_INTERVAL)
            await asyncio.get_running_loop().run_in_executor(None, rt.feed.wait_for_notify, user.id, version, 2.0)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


async def notifications_version(request: Request) -> Response:
    """What the sidebar's notifications of the tab of user ``?user=<id>`` show moved when this
    number moves (``ChangeFeed.notify_version``): the tab's watcher (``pages/live_watch.py``) asks
    every two seconds and reruns the notifications fragment only then. No cookie: 401 (a tab just
    signed in; its watcher asks again). A cookie whose session ended (signed out, everywhere or
    here; expired; disabled), or another user's (this browser signed in again as someone else):
    403, and the tab reruns its fragment, which shows the sign-in form if its own session ended."""
    if sessions.COOKIE_NAME not in request.cookies:
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    found = await run_in_threadpool(_cookie_session, request)
    if found is None:
        return JSONResponse({"error": "Your session has ended; sign in again."}, status_code=403)
    user, _session_id = found
    if request.query_params.get("user") != str(user.id):
        return JSONResponse({"error": "This browser is signed in as someone else now."}, status_code=403)
    now_ms = int(clock.utcnow().replace(tzinfo=dt.UTC).timestamp() * 1000)
    return JSONResponse(
        {"version": _rt().feed.notify_version(user.id), "now": now_ms}, headers={"Cache-Control": "no-store"}
    )


async def conversation_version(request: Request) -> Response:
    """The version of a conversation the signed-in user may open: an open Conversation page
    asks every two seconds and reruns its thread only when the number moved
    (``pages/live_watch.py``). ``now`` is the server's clock, for a redraw that is due at a time."""
    return await _version_answer(
        request, versions.viewable_conversation_version, request.path_params["conversation_id"]
    )


async def inbox_version(request: Request) -> Response:
    """The inbox version behind a live list the signed-in user may see (``?owner=<user id>`` or
    ``?owner=team``): My Inbox, Team Inbox and Sent Messages ask every two seconds and redraw
    only when it moved (``pages/live_watch.py``). ``now`` is the server's clock."""
    return await _version_answer(request, versions.viewable_inbox_version, request.query_params.get("owner"))


async def _version_answer(request: Request, viewable_version: Callable[..., int], what: Any) -> Response:
    """``viewable_version(db, user, what)`` for the signed-in user, with the server's clock; 401
    before sign-in, 404 and 403 with core's sentence (the watcher stops on those)."""
    found = await run_in_threadpool(_cookie_session, request)
    if found is None:
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    user, _session_id = found
    try:
        version = await run_in_threadpool(viewable_version, _rt().db, user, what)
    except NotFound as exc:
        return JSONResponse({"error": str(exc)}, status_code=404)
    except PermissionDenied as exc:
        return JSONResponse({"error": str(exc)}, status_code=403)
    now_ms = int(clock.utcnow().replace(tzinfo=dt.UTC).timestamp() * 1000)
    return JSONResponse({"version": version, "now": now_ms}, headers={"Cache-Control": "no-store"})


# ---- a page that stayed blank (pages/blank_guard.py) ------------------------------------------

BLANK_REPORT_LIMIT = 2048


async def blank_page(request: Request) -> Response:
    """A signed-in tab found its page blank after the run and reloads itself (``pages/blank_guard.py``):
    one warning line in the log, so the browser suite and an admin can count how often. Anything
    in the report is the browser's word: the path is logged quoted and cut, the numbers as numbers."""
    found = await run_in_threadpool(_cookie_session, request)
    if found is None:
        return JSONResponse({"error": "Sign in first."}, status_code=401)
    user, _session_id = found
    try:
        report = json.loads(await _limited_body(request, BLANK_REPORT_LIMIT) or b"{}")
    except (BodyTooLarge, ValueError):
        report = {}
    if not isinstance(report, dict):
        report = {}

    def number(key: str) -> int | None:
        value = report.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None  # JSON's NaN and Infinity too: int() of those would raise
        return int(value)

    log.warning(
        "blank page: a tab of @%s found %r blank after its run and reloaded it "
        "(%s elements left; %s ms after it last left a page)",
        user.username,
        str(report.get("path", ""))[:200],
        number("elements"),
        number("since_leaving_ms"),
    )
    return Response(status_code=204)


# ---- provider webhooks and outbound media ---------------------------------------------------


class BodyTooLarge(Exception):
    pass


async def _limited_body(request: Request, limit: int) -> bytes:
    """The body, read as it streams in, never more than ``limit`` bytes held."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge()
        except ValueError:
            raise BodyTooLarge() from None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


async def _webhook_request(request: Request) -> WebhookRequest:
    body = await _limited_body(request, ingest.MAX_BODY_BYTES)
    return WebhookRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
    )


async def webhook(request: Request) -> Response:
    provider = request.path_params["provider"]
    ingest = _rt().services.get("ingest")
    if ingest is None:
        return JSONResponse({"error": "Parley is starting; try again shortly."}, status_code=503)
    try:
        req = await _webhook_request(request)
    except BodyTooLarge:
        return PlainTextResponse("Payload too large.", status_code=413, headers={"Connection": "close"})
    if provider == "whatsapp" and request.method == "GET":
        outcome = ingest.handshake(req)
    else:
        outcome = await ingest.receive(provider, req)
    return Response(outcome.body, status_code=outcome.status, media_type=outcome.media_type)


async def outbound_file(request: Request) -> Response:
    """Media an outgoing message carries, fetched by the provider by unguessable token."""
    from core import media_access

    found = await run_in_threadpool(media_access.file_for_token, _rt(), request.path_params["token"])
    if found is None:
        return PlainTextResponse("Not found", status_code=404)
    path, content_type, filename = found
    # A private file behind a bearer link: no cache keeps it, no browser guesses another type for it.
    return FileResponse(path, media_type=content_type, filename=filename, headers=FILE_HEADERS)


FILE_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


ROUTES = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/noop", noop, methods=["GET", "POST"]),
    Route("/auth/session", session_cookie, methods=["POST"]),
    Route("/auth/logout", sign_out, methods=["POST"]),
    Route("/api/notifications", notifications, methods=["GET"]),
    Route("/api/notifications/version", notifications_version, methods=["GET"]),
    Route("/api/conversations/{conversation_id}/version", conversation_version, methods=["GET"]),
    Route("/api/inbox/version", inbox_version, methods=["GET"]),
    Route("/api/blank-page", blank_page, methods=["POST"]),
    Route("/webhooks/{provider}", webhook, methods=["GET", "POST"]),
    Route("/files/{token}", outbound_file, methods=["GET"]),
]
