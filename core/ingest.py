"""Webhooks lose nothing: verify, store raw, acknowledge, then apply.

``receive`` runs per request: a bad signature gets 403 and nothing is
stored; otherwise the payload is parsed (a malformed body is stored as
*malformed* and answered 400; an unknown sender number is stored as
*unknown_sender* and answered 404) and the raw bytes are committed before
the 2xx answer. Commits are grouped: concurrent requests wait a moment and
share one transaction (one bulk insert), which is what lets a single
DuckDB writer acknowledge well over a thousand webhooks a second; and they
are urgent writes, which go before the applier's when the write path frees.

The applier worker then reads pending rows in batches, downloads inbound
media outside any transaction, and applies each batch in one transaction
(``core.actions.inbound``). A status for a message id we don't know yet is
retried for a while (the provider may have answered before we recorded
its id) and then kept, marked, for review.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core import clock
from core.actions import inbound
from core.db import Database, Transaction
from core.providers.base import MalformedWebhook, ProviderError, StatusEvent, WebhookBatch, WebhookRequest

log = logging.getLogger("parley.ingest")

APPLY_BATCH = 500
# Per transaction: at most this many inbound messages (each a few statements, a few ms) or
# this many stored webhooks in all (status callbacks are applied together, in a few set-based
# statements). Short transactions keep the write path free for the acknowledgements that
# wait on it (which also go first: urgent writes).
APPLY_CHUNK_INBOUND = 2
APPLY_CHUNK_ROWS = 200
UNKNOWN_ID_GRACE = dt.timedelta(minutes=5)
MAX_BODY_BYTES = 1_000_000
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
            for (_row, loop, waiter), row_id in zip(items, ids):
                _resolve(loop, waiter, row_id, error)
            if self.on_commit and not error:
                self.on_commit()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _resolve(loop, waiter, row_id, error) -> None:
    if loop is None:
        done, box = waiter
        if error:
            box["error"] = error
        else:
            box["id"] = row_id
        done.set()
        return

    def settle() -> None:
        if waiter.done():
            return
        if error:
            waiter.set_exception(error)
        else:
            waiter.set_result(row_id)

    loop.call_soon_threadsafe(settle)


_INBOX_COLUMNS = ("received_at", "provider", "state", "url", "content_type", "body", "error")


def _insert_rows(tx: Transaction, rows: list[dict[str, Any]]) -> list[int]:
    # One multi-row VALUES statement: for the few dozen rows of a group commit it costs a
    # third of registering a DataFrame (bench/bench_webhooks.py).
    # The ids come back in the order of the VALUES rows (asserted in tests/core/test_ingest_commit.py).
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(rows))
    returned = tx.fetchall(
        f"INSERT INTO webhook_inbox ({', '.join(_INBOX_COLUMNS)}) VALUES {values} RETURNING id",
        [row[c] for row in rows for c in _INBOX_COLUMNS],
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
        """Verify and classify a request: (immediate answer, row to store)."""
        provider = self.providers.for_webhook(name)
        if provider is None:
            return WebhookAnswer(404, "Unknown webhook."), None
        if len(req.body) > MAX_BODY_BYTES:
            return WebhookAnswer(413, "Payload too large."), None
        req = self._as_called(req)
        if not provider.verify_webhook(req):
            return WebhookAnswer(403, "Invalid signature."), None
        row = {
            "received_at": clock.utcnow(),
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
        unknown = [e for e in batch.inbound if self.providers.sender_for(name, e) is None]
        if unknown:
            row.update(state="unknown_sender", error=f"No sender for {unknown[0].to_number or unknown[0].to_ref}")
            return WebhookAnswer(404, "Unknown sender number; the payload was recorded."), row
        return None, row

    async def receive(self, name: str, req: WebhookRequest) -> WebhookAnswer:
        answer, row = self.check(name, req)
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


class WebhookApplier:
    """Applies stored webhooks in batches (the worker's step)."""

    def __init__(self, db: Database, providers: Any, media_store: Any) -> None:
        self.db = db
        self.providers = providers
        self.media = media_store
        self.applied = 0
        self.failed = 0  # webhooks kept as 'error' for review

    def step(self) -> bool:
        now = clock.utcnow()
        rows = self.db.fetchall(
            """SELECT id, provider, url, content_type, body, received_at FROM webhook_inbox
               WHERE state = 'pending' AND (processed_at IS NULL OR processed_at <= ?)
               ORDER BY id LIMIT ?""",
            [now, APPLY_BATCH],
        )
        if not rows:
            return False
        parsed = []
        for row_id, name, url, content_type, body, received_at in rows:
            provider = self.providers.for_webhook(name)
            try:
                batch = provider.parse_webhook(
                    WebhookRequest("POST", url or "", {"content-type": content_type or ""}, {}, bytes(body))
                )
            except MalformedWebhook as exc:
                parsed.append((row_id, received_at, None, [], str(exc)))
                continue
            media = [self._fetch_media(provider, event) for event in batch.inbound]
            parsed.append((row_id, received_at, batch, media, None))
        name_of = {r[0]: r[1] for r in rows}
        chunk, inbound_count = [], 0
        for item in parsed:
            chunk.append(item)
            inbound_count += len(item[2].inbound) if item[2] is not None else 0
            if inbound_count >= APPLY_CHUNK_INBOUND or len(chunk) >= APPLY_CHUNK_ROWS:
                self._write_chunk(chunk, name_of)
                chunk, inbound_count = [], 0
        if chunk:
            self._write_chunk(chunk, name_of)
        return True

    def _write_chunk(self, chunk: list, name_of: dict[int, str]) -> None:
        try:
            self.db.write(self._apply, chunk, name_of=name_of)
        except Exception as exc:
            if len(chunk) > 1:  # find the one that fails; the others go through
                for item in chunk:
                    self._write_chunk([item], name_of)
                return
            # One webhook that cannot be applied must not hold up the ones behind it: its raw
            # payload stays, marked for review, with the reason.
            log.exception("webhook %s could not be applied", chunk[0][0])
            reason = f"Could not be applied: {type(exc).__name__}: {exc}"[:500]
            self.db.write(
                lambda tx: tx.execute(
                    "UPDATE webhook_inbox SET state = 'error', error = ?, processed_at = ? WHERE id = ?",
                    [reason, clock.utcnow(), chunk[0][0]],
                )
            )
            self.failed += 1
            return
        self.applied += len(chunk)

    def _fetch_media(self, provider: Any, event: Any) -> tuple[list[inbound.StoredMedia], list[str]]:
        stored, errors = [], []
        for index, item in enumerate(event.media):
            try:
                data = provider.fetch_media(item)
                sha = self.media.put(data)
                ext = (item.content_type or "application/octet-stream").split("/")[-1].split(";")[0]
                filename = item.filename or f"attachment-{index + 1}.{ext}"
                stored.append(
                    inbound.StoredMedia(sha, item.content_type or "application/octet-stream", filename, len(data))
                )
            except (ProviderError, OSError, ValueError) as exc:
                errors.append(f"Attachment {index + 1} could not be downloaded: {exc}")
        return stored, errors

    def _apply(self, tx: Transaction, parsed: list, name_of: dict[int, str]) -> None:
        now = clock.utcnow()
        outcome: dict[int, tuple[str, str | None, dt.datetime]] = {}  # row -> (state, note, processed_at)
        statuses: list[tuple[int, Any, StatusEvent]] = []  # (row, received_at, event)
        for row_id, received_at, batch, media, error in parsed:
            if batch is None:
                outcome[row_id] = ("malformed", error[:500], now)
                continue
            problem = self._apply_inbound(tx, name_of[row_id], batch, media)
            if problem is not None:
                outcome[row_id] = ("unknown_sender", problem, now)
                continue
            outcome[row_id] = ("applied", None, now)
            statuses += [(row_id, received_at, event) for event in batch.statuses]
        # Every status callback of the chunk at once: one lookup, one update (rule 9 holds
        # across them: a status only ever moves forward, whatever order they came in).
        result = inbound.apply_statuses(tx, [event for _, _, event in statuses])
        unknown = set(result.unknown_message_ids or [])
        for row_id, received_at, event in statuses:
            if event.provider_message_id not in unknown or outcome[row_id][1] is not None:
                continue
            if now - received_at < UNKNOWN_ID_GRACE:  # the provider may have answered before we stored its id
                outcome[row_id] = (
                    "pending",
                    f"Waiting for message id {event.provider_message_id}",
                    now + dt.timedelta(seconds=2),
                )
            else:
                outcome[row_id] = (
                    "applied",
                    f"Unknown message id {event.provider_message_id}: Parley never sent it",
                    now,
                )
        rows = [(row_id, state, note, at) for row_id, (state, note, at) in outcome.items()]
        values = ", ".join(["(?::BIGINT, ?, ?, ?::TIMESTAMP)"] * len(rows))
        tx.execute(
            f"""UPDATE webhook_inbox SET state = u.state, error = u.error, processed_at = u.processed_at
                       FROM (VALUES {values}) AS u(id, state, error, processed_at) WHERE webhook_inbox.id = u.id""",
            [v for row in rows for v in row],
        )

    def _apply_inbound(self, tx: Transaction, name: str, batch: WebhookBatch, media: list) -> str | None:
        """Store the batch's inbound messages; a sentence if one is for a sender we no longer have."""
        for event, (stored, errors) in zip(batch.inbound, media):
            sender = self.providers.sender_for(name, event)
            if sender is None:
                return "Sender no longer exists"
            inbound.apply_inbound(tx, event, sender, stored, errors)
        return None
