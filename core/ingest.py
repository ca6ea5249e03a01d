"""Webhooks lose nothing: verify, store raw, acknowledge, then apply.

``receive`` runs per request, its work off the event loop (a small pool of
its own, so the UI's routes and websockets never wait behind it): a body
with too many form fields is refused (413) before anything else; a bad
signature gets 403 and nothing is stored; otherwise the payload is parsed (a
body that cannot be read at all is stored as *malformed* and answered 400;
for Twilio and the simulator, whose payloads carry one item, an unknown
sender number is stored as *unknown_sender* and answered 404) and the raw
bytes are committed before the 2xx answer. A WhatsApp payload with a good
signature always gets 200 once stored: its items are applied one by one,
and each one that cannot be (unreadable, or for a phone number id we do not
have) is kept in ``webhook_rejects`` with its reason (Meta never resends a
payload it got a 4xx for). Commits are grouped: concurrent requests share
one transaction, and they are urgent writes, which go before the applier's.

The applier (``core.ingest_apply``) then applies what was stored, in sets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core import clock
from core.db import Database, Transaction
from core.providers.base import MalformedWebhook, WebhookRequest

log = logging.getLogger("parley.ingest")

MAX_BODY_BYTES = 1_000_000
# A real webhook has a few dozen form fields (Twilio: ~40, plus two per attachment); checked
# by counting separators before any parsing or signature work.
MAX_FORM_FIELDS = 200
VERIFY_THREADS = 4  # signature checks and parsing of large bodies, off the event loop
# Up to this size a body is checked on the event loop: a Twilio webhook (~1 KB, at most
# MAX_FORM_FIELDS fields) costs about a tenth of a millisecond, less than a hop to a thread
# and back under load (bench/bench_webhooks.py); anything larger goes to the pool.
INLINE_BYTES = 16_384
ACK = {
    "twilio": ('<?xml version="1.0" encoding="UTF-8"?><Response/>', "text/xml"),
    "whatsapp": ("ok", "text/plain"),
    "simulator": ("ok", "text/plain"),
}


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: str
    media_type: str = "text/plain"


class GroupCommitter:
    """Collects rows from many requests and inserts them in one transaction."""

    def __init__(self, db: Database, on_commit: Callable[[], None] | None = None, max_batch: int = 512) -> None:
        self.db = db
        self.on_commit = on_commit
        self.max_batch = max_batch
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-webhook-commit", daemon=True)
        self._thread.start()
        self.committed = 0  # webhooks stored
        self.commits = 0  # transactions that stored them
        self.commit_seconds = 0.0

    def submit(self, row: dict[str, Any]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((row, loop, future))
        return future

    def submit_blocking(self, row: dict[str, Any]) -> int:
        done = threading.Event()
        box: dict[str, Any] = {}
        self._queue.put((row, None, (done, box)))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["id"]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            items = [first]
            while len(items) < self.max_batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            started = time.perf_counter()
            try:
                ids = self.db.write(_insert_rows, [row for row, _, _ in items], urgent=True)
                error = None
                self.commits += 1
                self.commit_seconds += time.perf_counter() - started
            except Exception as exc:  # answer every waiter; nothing was acknowledged
                log.exception("could not store %d webhooks", len(items))
                ids, error = [None] * len(items), exc
            self.committed += 0 if error else len(items)
            _resolve_all(items, ids, error)
            if self.on_commit and not error:
                self.on_commit()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _resolve_all(items: list[tuple[Any, Any, Any]], ids: list[Any], error: Exception | None) -> None:
    """Answer every waiter of a commit: the blocking ones at once, the event loop's in one call.

    One ``call_soon_threadsafe`` per loop and commit, not per webhook: each call wakes the
    event loop through its self-pipe (a system call and a pass of the loop), which the
    webhook route pays on the same thread that answers the requests (issue 18).
    """
    by_loop: dict[Any, list[tuple[asyncio.Future, Any]]] = {}
    for (_row, loop, waiter), row_id in zip(items, ids):
        if loop is None:
            done, box = waiter
            if error:
                box["error"] = error
            else:
                box["id"] = row_id
            done.set()
        else:
            by_loop.setdefault(loop, []).append((waiter, row_id))
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiters, error)
        except RuntimeError:  # that loop was closed meanwhile: nobody is waiting on it any more
            log.warning("%d webhook answers had no event loop to go to", len(waiters))


def _settle(waiters: list[tuple[asyncio.Future, Any]], error: Exception | None) -> None:
    for waiter, row_id in waiters:
        if waiter.done():  # the request went away (client disconnected) before its row was stored
            continue
        if error:
            waiter.set_exception(error)
        else:
            waiter.set_result(row_id)


_INBOX_TYPES = {
    "received_at": "TIMESTAMP",
    "provider": "VARCHAR",
    "state": "VARCHAR",
    "url": "VARCHAR",
    "content_type": "VARCHAR",
    "body": "BLOB",
    "error": "VARCHAR",
}
_INBOX_COLUMNS = tuple(_INBOX_TYPES)
_UNNESTED = ", ".join(f"unnest(?::{kind}[])" for kind in _INBOX_TYPES.values())


def _insert_rows(tx: Transaction, rows: list[dict[str, Any]]) -> list[int]:
    # One statement whose parameters are a list per column, unnested into rows: its planning
    # costs the same for 5 rows or 500. A multi-row VALUES statement binds an expression per
    # value: per row, CPU measured under load, 156 µs against 88 at 50 rows and 84 against 30 at
    # 200 (the rows of a burst's group commit); the two cost the same at 10.
    # The ids come back in the order of the rows (DuckDB preserves insertion order; asserted in
    # tests/core/test_ingest_commit.py).
    columns = [[row[c] for row in rows] for c in _INBOX_COLUMNS]
    returned = tx.fetchall(
        f"INSERT INTO webhook_inbox ({', '.join(_INBOX_COLUMNS)}) SELECT {_UNNESTED} RETURNING id", columns
    )
    return [r[0] for r in returned]


class WebhookIngest:
    def __init__(
        self,
        db: Database,
        providers: Any,
        *,
        public_url: str | None = None,
        wake_applier: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.providers = providers  # has .for_webhook(name) and .sender_for(event)
        self.public_url = public_url
        self.committer = GroupCommitter(db, on_commit=wake_applier)
        self._verify_pool = ThreadPoolExecutor(max_workers=VERIFY_THREADS, thread_name_prefix="parley-verify")

    def _as_called(self, req: WebhookRequest) -> WebhookRequest:
        """Behind a proxy the provider signed the public URL, not ours."""
        if not self.public_url:
            return req
        from urllib.parse import urlsplit

        parts = urlsplit(req.url)
        url = self.public_url + parts.path + (f"?{parts.query}" if parts.query else "")
        return WebhookRequest(req.method, url, req.headers, req.query, req.body)

    def handshake(self, req: WebhookRequest) -> WebhookAnswer:
        provider = self.providers.for_webhook("whatsapp")
        challenge = provider.verify_handshake(req.query) if provider is not None else None
        if challenge is None:
            return WebhookAnswer(403, "Verification failed.")
        return WebhookAnswer(200, challenge)

    def check(self, name: str, req: WebhookRequest) -> tuple[WebhookAnswer | None, dict[str, Any] | None]:
        """Verify and classify a request: (immediate answer, row to store). Runs off the event loop."""
        provider = self.providers.for_webhook(name)
        if provider is None:
            return WebhookAnswer(404, "Unknown webhook."), None
        if len(req.body) > MAX_BODY_BYTES:
            return WebhookAnswer(413, "Payload too large."), None
        if "x-www-form-urlencoded" in req.headers.get("content-type", "") and (
            req.body.count(b"&") + 1 > MAX_FORM_FIELDS
        ):
            return WebhookAnswer(413, "Too many form fields."), None
        received_at = clock.utcnow()
        req = dataclasses.replace(self._as_called(req), received_at=received_at)
        if not provider.verify_webhook(req):
            return WebhookAnswer(403, "Invalid signature."), None
        row = {
            "received_at": received_at,
            "provider": name,
            "state": "pending",
            "url": req.url,
            "content_type": req.headers.get("content-type"),
            "body": req.body,
            "error": None,
        }
        try:
            batch = provider.parse_webhook(req)
        except MalformedWebhook as exc:
            row.update(state="malformed", error=str(exc)[:500])
            return WebhookAnswer(400, "Malformed payload; it was recorded for review."), row
        except Exception as exc:  # a parser bug must not lose the payload or answer 500
            log.exception("%s webhook could not be parsed", name)
            row.update(state="malformed", error=f"Could not be parsed: {type(exc).__name__}: {exc}"[:500])
            return WebhookAnswer(400, "Malformed payload; it was recorded for review."), row
        if name != "whatsapp":  # one item per payload: the sender answers for the whole of it
            unknown = [e for e in batch.inbound if self.providers.sender_for(name, e) is None]
            if unknown:
                row.update(state="unknown_sender", error=f"No sender for {unknown[0].to_number or unknown[0].to_ref}")
                return WebhookAnswer(404, "Unknown sender number; the payload was recorded."), row
        return None, row

    async def receive(self, name: str, req: WebhookRequest) -> WebhookAnswer:
        if len(req.body) <= INLINE_BYTES:  # a usual webhook: checked in ~0.1 ms, no thread hop
            answer, row = self.check(name, req)
        else:  # a large body's signature and parsing never hold up the event loop
            loop = asyncio.get_running_loop()
            answer, row = await loop.run_in_executor(self._verify_pool, self.check, name, req)
        if row is not None:
            try:
                await self.committer.submit(row)
            except Exception:
                return WebhookAnswer(503, "Could not store the webhook; please retry.")
        if answer is not None:
            return answer
        body, media_type = ACK.get(name, ("ok", "text/plain"))
        return WebhookAnswer(200, body, media_type)

    def close(self) -> None:
        self.committer.stop()
        self._verify_pool.shutdown(wait=False, cancel_futures=True)
