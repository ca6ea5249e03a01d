"""Applying stored webhooks: the applier worker's step (see ``core.ingest`` for storing them).

The applier worker reads pending rows in batches, downloads inbound
media outside any transaction (only from the provider's media hosts, within
size and time limits, its real type sniffed from the bytes; a webhook whose
download takes longer than a step waits for a later one, so a slow media
host holds up nothing else), and applies
them in short transactions of at most ``APPLY_CHUNK_INBOUND`` messages and
``APPLY_CHUNK_STATUSES`` status callbacks (a 3,000-message payload is split
across several), so an acknowledgement never waits long for the write path.
Inbound messages of a chunk are applied as one set
(``core.actions.inbound_batch``), status callbacks too. A status for a
message id we don't know yet is retried for a while (the provider may have
answered before we recorded its id) and then kept, marked, for review.
Every message is stamped with the provider's own time where it sends one,
else with the time Parley received the webhook, never the time it was
applied.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core import clock, media_rules, media_sniff
from core.actions import inbound
from core.actions.inbound_batch import InboundItem, apply_inbound_batch
from core.db import Database, Transaction
from core.providers import http
from core.providers.base import MalformedWebhook, ProviderError, RejectedItem, WebhookRequest

log = logging.getLogger("parley.ingest")

APPLY_BATCH = 500  # stored webhooks read per step
# Per transaction: at most this many inbound messages and this many status callbacks (each set
# applied in a few statements). Short transactions keep the write path free for the
# acknowledgements that wait on it (which also go first: urgent writes). A set's cost is mostly
# its dozen statements, not its size: bench/bench_apply.py at load 3.4 applied 1,000 replies in
# sets of 100 at 1,850/s (~45 ms a set), in sets of 200 at 2,750/s (~52 ms a set), so an
# acknowledgement waits about as long behind either; bench/bench_webhooks.py --large-payload
# measures that side.
APPLY_CHUNK_INBOUND = 200
APPLY_CHUNK_STATUSES = 400
# During a burst (the last step found work less than BURST_SECONDS ago) a step that finds less
# than a full set waits GATHER_SECONDS for more before applying: each set holds the one write
# path for its dozen statements whatever its size, and a burst applied in sets of the few
# webhooks each group commit stored kept the path busy most of the time, while every
# acknowledgement waited behind it (bench/bench_webhooks.py, "group commits ... in N ms"). The
# first webhook after a quiet spell is applied at once. The app sets it (core.engine); 0 = never.
GATHER_SECONDS = 0.25
BURST_SECONDS = 1.0
UNKNOWN_ID_GRACE = dt.timedelta(minutes=5)
MEDIA_THREADS = 4  # attachments of one step downloaded side by side
# The longest the applier waits for one attachment: the download's own limit (enforced however
# slowly bytes come, core.providers.http) and its connection's timeouts. Past it the message is
# stored without the attachment, with the reason, and the other webhooks go on.
MEDIA_WAIT_SECONDS = http.MEDIA_SECONDS + 2 * http.READ_TIMEOUT + http.CONNECT_TIMEOUT
# How long one step waits for the attachments it started. A download still going then keeps its
# webhook for a later step (its download carries on, up to MEDIA_WAIT_SECONDS), and the step
# applies everything else: one slow media host used to hold every webhook behind it for up to
# MEDIA_WAIT_SECONDS (82 s). The message keeps the time Parley received it, so the thread still
# shows it in its place.
STEP_MEDIA_WAIT_SECONDS = 2.0
MEDIA_RETRY = dt.timedelta(seconds=1)


@dataclass
class _RowResult:
    """What applying one stored webhook came to (merged over the chunks it was split into)."""

    state: str = "applied"
    note: str | None = None
    retry_at: dt.datetime | None = None
    rejects: list[RejectedItem] = field(default_factory=list)

    def merged(self, other: _RowResult) -> _RowResult:
        worse = other if _RANK[other.state] > _RANK[self.state] else self
        retry = [t for t in (self.retry_at, other.retry_at) if t is not None]
        return _RowResult(
            worse.state,
            self.note or other.note,
            min(retry) if retry else None,
            self.rejects + other.rejects,
        )


_RANK = {"applied": 0, "pending": 1, "unknown_sender": 2, "malformed": 3, "error": 4}


@dataclass
class _Parsed:
    row_id: int
    provider: str
    received_at: dt.datetime
    units: list[tuple[str, Any]]  # ('in', InboundItem) | ('status', StatusEvent)
    result: _RowResult


def backlog(db: Database) -> dict[str, Any]:
    """Stored webhooks not applied yet: how many, and how long the oldest has waited (seconds);
    and how many payloads and items are kept for review. For /healthz and the admin pages."""
    pending, oldest = db.fetchone("SELECT count(*), min(received_at) FROM webhook_inbox WHERE state = 'pending'")
    kept = db.scalar("SELECT count(*) FROM webhook_inbox WHERE state IN ('malformed', 'unknown_sender', 'error')")
    rejected = db.scalar("SELECT count(*) FROM webhook_rejects")
    age = max(0.0, (clock.utcnow() - oldest).total_seconds()) if oldest is not None else 0.0
    return {
        "pending": pending,
        "oldest_age_seconds": round(age, 1),
        "kept_for_review": kept,
        "items_rejected": rejected,
    }


class WebhookApplier:
    """Applies stored webhooks in batches (the worker's step)."""

    def __init__(
        self,
        db: Database,
        providers: Any,
        media_store: Any,
        *,
        gather_seconds: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.providers = providers
        self.media = media_store
        self.gather_seconds = gather_seconds
        self._sleep, self._monotonic = sleep, monotonic
        self._burst_until: float | None = None  # a step found work recently: a burst is on until then
        self.applied = 0
        self.failed = 0  # webhooks kept as 'error' for review
        self.messages = 0  # inbound messages stored
        self._media_pool = ThreadPoolExecutor(max_workers=MEDIA_THREADS, thread_name_prefix="parley-media")
        # Downloads a step left running, by (provider, message id): (future, when it started). A
        # restart loses them, and the webhook, still pending, downloads again.
        self._downloads: dict[tuple[str, str], tuple[Future, float]] = {}

    def close(self) -> None:
        self._media_pool.shutdown(wait=False, cancel_futures=True)
        self._downloads.clear()

    def step(self) -> bool:
        rows = self._pending()
        if not rows:
            return False
        bursting = self._burst_until is not None and self._monotonic() < self._burst_until
        if self.gather_seconds and bursting and len(rows) < APPLY_CHUNK_INBOUND:
            self._sleep(self.gather_seconds)  # a fuller set: fewer, not longer, turns on the write path
            rows = self._pending()
        self._burst_until = self._monotonic() + BURST_SECONDS
        parsed = [self._parse_row(row) for row in rows]
        self._fetch_all_media(parsed)
        for chunk in _chunks(parsed):
            self._write_chunk(chunk)
        return True

    def _pending(self) -> list[tuple]:
        return self.db.fetchall(
            """SELECT id, provider, url, content_type, body, received_at FROM webhook_inbox
               WHERE state = 'pending' AND (processed_at IS NULL OR processed_at <= ?)
               ORDER BY id LIMIT ?""",
            [clock.utcnow(), APPLY_BATCH],
        )

    # ---- parsing ----------------------------------------------------------------------------

    def _parse_row(self, row: tuple) -> _Parsed:
        """``_parse``, where anything unexpected keeps only this webhook for review (state 'error',
        with the reason): an exception out of ``step`` would leave every row pending, and the
        worker would meet the same one again each second while nothing behind it was applied."""
        try:
            return self._parse(*row)
        except Exception as exc:
            log.exception("webhook %s could not be read", row[0])
            reason = f"Could not be applied: {type(exc).__name__}: {exc}"[:500]
            return _Parsed(row[0], row[1], row[5], [], _RowResult("error", reason))

    def _parse(self, row_id, name, url, content_type, body, received_at) -> _Parsed:
        provider = self.providers.for_webhook(name)
        parsed = _Parsed(row_id, name, received_at, [], _RowResult())
        if provider is None:
            parsed.result = _RowResult("unknown_sender", f"The {name} provider is not configured")
            return parsed
        request = WebhookRequest(
            "POST", url or "", {"content-type": content_type or ""}, {}, bytes(body), received_at=received_at
        )
        try:
            batch = provider.parse_webhook(request)
        except Exception as exc:
            reason = str(exc) if isinstance(exc, MalformedWebhook) else f"Could not be parsed: {type(exc).__name__}"
            parsed.result = _RowResult("malformed", reason[:500])
            return parsed
        parsed.result.rejects = list(batch.rejected)
        for event in batch.inbound:
            sender = self.providers.sender_for(name, event)
            if sender is None:
                if name == "whatsapp":  # one change of many: kept, the others applied
                    parsed.result.rejects.append(
                        RejectedItem(
                            f"No sender for phone number id {event.to_ref or event.to_number}",
                            json.dumps(
                                {
                                    "id": event.provider_message_id,
                                    "from": event.from_number,
                                    "phone_number_id": event.to_ref,
                                    "body": event.body,
                                }
                            ),  # fmt: skip
                        )
                    )
                    continue
                parsed.result = _RowResult("unknown_sender", "Sender no longer exists")
                parsed.units = []
                return parsed
            parsed.units.append(("in", InboundItem(event, sender, [], None)))
        parsed.units += [("status", event) for event in batch.statuses]
        return parsed

    # ---- media ------------------------------------------------------------------------------

    def _fetch_all_media(self, parsed: list[_Parsed]) -> None:
        """Each inbound attachment downloaded (side by side), waiting at most
        ``STEP_MEDIA_WAIT_SECONDS`` in all; a webhook with a download still going is put back
        for a later step, and one past ``MEDIA_WAIT_SECONDS`` is stored without the attachment,
        with the reason."""
        jobs = []
        for p in parsed:
            provider = self.providers.for_webhook(p.provider)
            for kind, item in p.units:
                if kind == "in" and item.event.media:
                    key = (p.provider, str(item.event.provider_message_id))
                    if key not in self._downloads:
                        future = self._media_pool.submit(self._fetch_media, provider, item.event)
                        self._downloads[key] = (future, self._monotonic())
                    jobs.append((p, item, key))
        if not jobs:
            return
        deadline = self._monotonic() + STEP_MEDIA_WAIT_SECONDS
        waiting: set[int] = set()
        for p, item, key in jobs:
            future, started = self._downloads[key]
            limit = started + MEDIA_WAIT_SECONDS * len(item.event.media)
            try:
                item.media, item.media_errors = future.result(
                    timeout=max(0.0, min(deadline, limit) - self._monotonic())
                )
            except TimeoutError:
                if self._monotonic() < limit:
                    waiting.add(p.row_id)  # still downloading: this webhook waits for a later step
                    continue
                future.cancel()  # if it never started; a download under way ends by its own limit
                wait = MEDIA_WAIT_SECONDS * len(item.event.media)
                log.warning("attachments of %s not downloaded in %g s", item.event.provider_message_id, wait)
                item.media, item.media_errors = [], [f"The attachments took longer than {wait:g} s to download."]
            except Exception as exc:  # _fetch_media keeps its own; this is the last guard
                log.exception("attachments of %s could not be fetched", item.event.provider_message_id)
                item.media, item.media_errors = [], [f"The attachments could not be downloaded ({type(exc).__name__})."]
        retry_at = clock.utcnow() + MEDIA_RETRY
        for p, _item, key in jobs:
            if p.row_id not in waiting:
                self._downloads.pop(key, None)  # used now (a waiting row keeps its finished ones too)
        for p in parsed:
            if p.row_id in waiting:
                p.units = []
                p.result = p.result.merged(_RowResult("pending", "Downloading its attachments", retry_at))

    def _fetch_media(self, provider: Any, event: Any) -> tuple[list[inbound.StoredMedia], list[str]]:
        """Each attachment downloaded and stored, or its reason: one that fails (whatever the
        exception) is recorded on its message, which is stored all the same."""
        stored, errors = [], []
        for index, item in enumerate(event.media):
            try:
                data = provider.fetch_media(item)
                sha = self.media.put(data)
                ctype = media_sniff.true_type(data, item.content_type)
                # No name sent (Twilio never sends one): named from the type, with the extension it opens by.
                ext = media_rules.extension_for(ctype)
                filename = media_rules.safe_filename(item.filename or f"attachment-{index + 1}{ext}")
                stored.append(inbound.StoredMedia(sha, ctype, filename, len(data)))
            except (ProviderError, OSError, ValueError) as exc:
                errors.append(f"Attachment {index + 1} could not be downloaded: {exc}")
            except Exception as exc:
                log.exception("attachment %d of %s", index + 1, event.provider_message_id)
                errors.append(f"Attachment {index + 1} could not be downloaded ({type(exc).__name__}).")
        return stored, errors

    # ---- applying ---------------------------------------------------------------------------

    def _write_chunk(self, chunk: list[tuple[_Parsed, list[tuple[str, Any]], bool]]) -> None:
        try:
            results = self.db.write(self._apply, chunk)
        except Exception as exc:
            rows = {p.row_id for p, _, _ in chunk}
            if len(rows) > 1:  # find the one that fails; the others go through
                for part in chunk:
                    self._write_chunk([part])
                return
            # One webhook that cannot be applied must not hold up the ones behind it: its raw
            # payload stays, marked for review, with the reason.
            parsed = chunk[0][0]
            log.exception("webhook %s could not be applied", parsed.row_id)
            reason = f"Could not be applied: {type(exc).__name__}: {exc}"[:500]
            parsed.result = _RowResult("error", reason)
            parsed.units = []
            self.db.write(
                lambda tx: tx.execute(
                    "UPDATE webhook_inbox SET state = 'error', error = ?, processed_at = ? WHERE id = ?",
                    [reason, clock.utcnow(), parsed.row_id],
                )
            )
            self.failed += 1
            return
        for parsed, finished, merged, stored in results:
            parsed.result = merged
            self.messages += stored
            if not finished or merged.state == "pending":
                continue  # put back to wait (an unknown message id, a download still going): not done yet
            if merged.state != "error":
                self.applied += 1
            else:
                self.failed += 1

    def _apply(self, tx: Transaction, chunk: list) -> list:
        now = clock.utcnow()
        live = [(p, units, last) for p, units, last in chunk if p.result.state != "error"]
        items = [(p, item) for p, units, _ in live for kind, item in units if kind == "in"]
        ids = apply_inbound_batch(tx, [item for _, item in items])
        stored = {}
        for (p, _), mid in zip(items, ids):
            stored[p.row_id] = stored.get(p.row_id, 0) + (mid is not None)
        statuses = [(p, event) for p, units, _ in live for kind, event in units if kind == "status"]
        # Every status callback of the chunk at once: one lookup, one update (rule 9 holds
        # across them: a status only ever moves forward, whatever order they came in).
        outcome = inbound.apply_statuses(tx, [event for _, event in statuses])
        unknown = set(outcome.unknown_message_ids or [])
        local: dict[int, _RowResult] = {}
        for p, event in statuses:
            if event.provider_message_id not in unknown:
                continue
            if now - p.received_at < UNKNOWN_ID_GRACE:  # the provider may have answered before we stored its id
                found = _RowResult(
                    "pending", f"Waiting for message id {event.provider_message_id}", now + dt.timedelta(seconds=2)
                )
            else:
                found = _RowResult("applied", f"Unknown message id {event.provider_message_id}: Parley never sent it")
            local[p.row_id] = local.get(p.row_id, _RowResult()).merged(found)
        results, finished_rows = [], []
        for p, _units, last in chunk:
            merged = p.result.merged(local.get(p.row_id, _RowResult())) if p.result.state != "error" else p.result
            results.append((p, last, merged, stored.pop(p.row_id, 0)))
            if last:
                finished_rows.append((p, merged))
        if finished_rows:
            _finish_rows(tx, finished_rows, now)
        return results


def _chunks(parsed: list[_Parsed]):
    """Split the work into transactions of at most APPLY_CHUNK_INBOUND messages and
    APPLY_CHUNK_STATUSES statuses. Yields [(parsed row, its units in this chunk, row ends here)]."""
    chunk: list = []
    inbound_count = status_count = 0
    for p in parsed:
        units = p.units
        start = 0
        while True:
            room_in, room_st = APPLY_CHUNK_INBOUND - inbound_count, APPLY_CHUNK_STATUSES - status_count
            taken, end = [], start
            while end < len(units) and (room_in > 0 if units[end][0] == "in" else room_st > 0):
                if units[end][0] == "in":
                    room_in -= 1
                else:
                    room_st -= 1
                taken.append(units[end])
                end += 1
            done = end >= len(units)
            chunk.append((p, taken, done))
            inbound_count = APPLY_CHUNK_INBOUND - room_in
            status_count = APPLY_CHUNK_STATUSES - room_st
            if done:
                break
            yield chunk  # the chunk is full: this row goes on in the next
            chunk, inbound_count, status_count, start = [], 0, 0, end
        if inbound_count >= APPLY_CHUNK_INBOUND or status_count >= APPLY_CHUNK_STATUSES:
            yield chunk
            chunk, inbound_count, status_count = [], 0, 0
    if chunk:
        yield chunk


def _finish_rows(tx: Transaction, finished: list[tuple[_Parsed, _RowResult]], now: dt.datetime) -> None:
    """Mark applied (or kept) webhooks, with the items kept for review."""
    plain, rows = [], []
    for p, r in finished:
        note = r.note
        if r.rejects:
            kept = f"{len(r.rejects)} item{'s' if len(r.rejects) != 1 else ''} kept for review: {r.rejects[0].reason}"
            note = f"{note}; {kept}" if note else kept
        if r.state == "applied" and not note and r.retry_at is None:
            plain.append(p.row_id)  # the common case, in one cheap statement
        else:
            rows.append((p.row_id, r.state, note[:500] if note else None, r.retry_at or now))
    if plain:
        tx.execute(
            "UPDATE webhook_inbox SET state = 'applied', error = NULL, processed_at = ? "
            "WHERE id IN (SELECT unnest(?::BIGINT[]))",
            [now, plain],
        )
    if rows:
        values = ", ".join(["(?::BIGINT, ?, ?, ?::TIMESTAMP)"] * len(rows))
        tx.execute(
            f"""UPDATE webhook_inbox SET state = u.state, error = u.error, processed_at = u.processed_at
                       FROM (VALUES {values}) AS u(id, state, error, processed_at) WHERE webhook_inbox.id = u.id""",
            [v for row in rows for v in row],
        )
    rejects = [(p, item) for p, r in finished for item in r.rejects]
    if rejects:
        # A row applied again (after a wait for an unknown id) keeps one copy of its rejects.
        tx.execute(
            "DELETE FROM webhook_rejects WHERE webhook_id IN (SELECT unnest(?::BIGINT[]))",
            [sorted({p.row_id for p, _ in rejects})],
        )
        values = ", ".join(["(?, ?, ?, ?, ?)"] * len(rejects))
        tx.execute(
            f"INSERT INTO webhook_rejects (webhook_id, provider, reason, item, recorded_at) VALUES {values}",
            [v for p, item in rejects for v in (p.row_id, p.provider, item.reason[:500], item.item, now)],
        )
