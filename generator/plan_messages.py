"""The messages of the generated workspace's conversations, planned as whole columns: who writes
each turn and when, what the rules let through and when it went, its status, text and file.

Part of ``generator.plan`` (which calls ``_messages``); the status helpers here are used for
the campaign messages nobody answered too (``generator.plan_finish``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core.provider_errors import describe
from generator import content, texts
from generator.plan_shared import DAY, IN, MINUTE, NAT, OUT, US, WINDOW_CLOSED, _Clock, _in_group, _pick


def _daytime(t: np.ndarray, now_us: int) -> np.ndarray:
    """Squeeze most activity into daytime: a monotonic warp of each past day (US Eastern, roughly).

    The first and last tenth of each day's timeline are stretched over the
    night (21:00–09:00), the rest over the day; today is left alone so the
    newest messages keep their minutes-old times. Order is preserved.
    """
    shift = 5 * 3600 * US
    local = t - shift
    day = local - local % DAY
    frac = np.interp((local - day) / DAY, [0, 0.1, 0.9, 1], [0, 9 / 24, 21 / 24, 1])
    today = (now_us - shift) - (now_us - shift) % DAY + shift
    return np.where(t < today, day + shift + (frac * (DAY - 1)).astype(np.int64), t)


def _previous_inbound(t: np.ndarray, direction: np.ndarray, conv: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """For each message, the time of the latest inbound message before it in its conversation (NAT if none).

    Times never go back within a conversation, so that is the time of the last inbound
    message at a smaller position: a running maximum of positions, not of times.
    """
    last_in = np.maximum.accumulate(np.where(direction == IN, np.arange(len(t)), -1))
    before = np.empty_like(last_in)
    before[0] = -1
    before[1:] = last_in[:-1]
    return np.where(before >= starts[conv], t[np.maximum(before, 0)], NAT)


def _texts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    flat: list[str] = []
    off = np.zeros((len(content.LANGUAGES), len(content.ROLES)), np.int64)
    size = np.zeros_like(off)
    for li, lang in enumerate(content.LANGUAGES):
        for ri, role in enumerate(content.ROLES):
            off[li, ri], size[li, ri] = len(flat), len(content.TEXTS[lang][role])
            flat += content.TEXTS[lang][role]
    return np.array(flat, object), off, size


def _render(spec: list, campaign: np.ndarray, first: np.ndarray) -> np.ndarray:
    parts = [s[2].split("{{first_name}}", 1) + [""] for s in spec]
    pre, post = np.array([p[0] for p in parts], object), np.array([p[1] for p in parts], object)
    return pre[campaign] + first + post[campaign]


def _random_status(rng: np.random.Generator, whatsapp: np.ndarray, first_contact: np.ndarray) -> np.ndarray:
    """Where outbound messages ended up: mostly delivered (read on WhatsApp), some failures."""
    u = rng.random(len(whatsapp))
    return np.where(
        first_contact,
        np.where(whatsapp, np.where(u < 0.7, "read", "delivered"), np.where(u < 0.9, "delivered", "sent")),
        np.where(
            whatsapp,
            np.select([u < 0.62, u < 0.90, u < 0.94], ["read", "delivered", "sent"], "failed"),
            np.select([u < 0.86, u < 0.92, u < 0.965], ["delivered", "sent", "failed"], "undelivered"),
        ),
    ).astype(object)


def _outcomes(rng: np.random.Generator, status: np.ndarray, whatsapp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Provider error code and the sentence shown beside ⚠ for failed and undelivered messages."""
    code = np.full(len(status), None, object)
    failed = status == "failed"
    code[failed & ~whatsapp] = np.where(rng.random(int((failed & ~whatsapp).sum())) < 0.6, "30003", "30007")
    code[failed & whatsapp] = np.where(rng.random(int((failed & whatsapp).sum())) < 0.5, "131026", "131049")
    code[status == "undelivered"] = "30005"
    reason = np.full(len(status), None, object)
    for c in ("30003", "30007", "131026", "131049", "30005"):
        reason[code == c] = describe(c)
    return code, reason


GONE = ["sent", "delivered", "read", "failed", "undelivered"]  # handed to the provider


def _status_times(
    rng: np.random.Generator, status: np.ndarray, t: np.ndarray, send: np.ndarray, now_us: int
) -> np.ndarray:
    n = len(status)
    lag = (
        np.select(
            [status == "sent", status == "delivered", status == "read", np.isin(status, GONE)],
            [rng.integers(1, 4, n), rng.integers(3, 31, n), rng.integers(60, 3600, n), rng.integers(5, 61, n)],
            0,
        )
        * US
    )
    return np.where(np.isin(status, GONE), np.minimum(send + lag, now_us), t)


def _messages(
    rng,
    now_us: int,
    clk: _Clock,
    people: dict,
    cv: dict,
    camp: dict,
    opt: np.ndarray,
    giants: np.ndarray,
    files: list,
    varied_texts: bool,
) -> dict:
    contact, sender, campaign, owner, first_in, count = (
        cv[k] for k in ("contact", "sender", "campaign", "owner", "first_in", "count")
    )
    M, T = len(count), int(count.sum())
    if M >= 1 << 24:
        raise ValueError("At most about sixteen million conversations per workspace.")
    starts = np.cumsum(count) - count
    last = starts + count - 1
    conv = np.repeat(np.arange(M), count)
    k = np.arange(T) - starts[conv]
    b = first_in[conv]
    after, camp_msg, wa, zone = k > b, k < b, sender[conv] == 1, people["zone"][contact][conv]
    # Directions: after the first reply each turn switches side with probability 0.7.
    turns = _in_group(after & (rng.random(T) < 0.7), starts, conv)
    direction = np.where(camp_msg, OUT, np.where(k == b, IN, turns % 2))
    stop = last[opt] - 2
    direction[stop], direction[stop + 1], direction[stop + 2] = IN, OUT, OUT
    # Times: campaign message, first reply, the rest spread over (reply, end]. Customers take
    # their time; the front desk answers within minutes or hours (small weights on its turns).
    gap = np.where(direction == OUT, rng.exponential(0.04, T) + 0.01, rng.exponential(1.0, T) + 0.05)
    elapsed = _in_group(np.where(after, gap, 0.0), starts, conv)
    frac = elapsed / np.maximum(elapsed[last], 1e-9)[conv]
    t = np.where(
        camp_msg,
        cv["start"][conv],
        _daytime(cv["reply"][conv] + (frac * (cv["end"] - cv["reply"])[conv]).astype(np.int64), now_us),
    )
    # Rule 5: free text on WhatsApp only within 24 h of the customer's last message. Where an
    # agent's turn falls outside, the customer wrote instead; a few keep the blocked attempt.
    blocked = np.zeros(T, bool)
    for _ in range(50):
        late = wa & after & (direction == OUT) & ~blocked & (t - _previous_inbound(t, direction, conv, starts) > DAY)
        if not late.any():
            break
        first_late = np.flatnonzero(late & (_in_group(late, starts, conv) == 1))  # earlier turns stay as they are
        keep = _pick(rng, first_late, max(0, max(1, M // 2000) - int(blocked.sum())))
        blocked[keep], late[keep] = True, False
        direction[late] = IN

    special = np.zeros(M, bool)
    special[opt] = True
    special[giants] = True
    # A few fresh replies still waiting: queued (until the next opening, or retrying a busy
    # provider in a minute or two) and sending (the dispatcher hands them over at start).
    nq, ns = max(3, M // 250), max(2, M // 1000)
    fresh_ok = (sender == 0) | (t[last] - _previous_inbound(t, direction, conv, starts)[last] < DAY - 3600 * US)
    cand = np.flatnonzero((count >= first_in + 2) & ~special & fresh_ok & ~blocked[last])
    cand = cand[np.argsort(-t[last[cand]], kind="stable")]  # newest first
    goes = clk.release(t[last[cand]], zone[last[cand]])
    queued = np.concatenate([cand[goes > now_us], cand[goes <= now_us]])[:nq]
    sending = cand[(goes == t[last[cand]]) & ~np.isin(cand, queued)][:ns]  # handed over in business hours
    special[queued] = special[sending] = True
    direction[last[queued]] = direction[last[sending]] = OUT

    # Rule 3: an outbound message goes at the first instant business and quiet hours allow.
    out = direction == OUT
    send = t.copy()
    send[out] = clk.release(t[out], zone[out])
    night = out & (send > now_us) & ~blocked & ~camp_msg  # after hours tonight only customers write
    night[last[queued]] = night[stop + 1] = night[stop + 2] = False
    direction[night], send[night], out = IN, t[night], out & ~night
    # Written inside the WhatsApp window but released after it closed: WhatsApp refuses it (63016).
    # Mostly the customer wrote again first; a few show the refusal.
    expired = out & wa & ~camp_msg & ~blocked & (send - _previous_inbound(t, direction, conv, starts) > DAY)
    expired[last[queued]] = expired[last[sending]] = False
    rewritten = expired & ~((_in_group(expired, starts, conv) == 1) & (rng.random(T) < 0.25))
    direction[rewritten], send[rewritten], out, expired = IN, t[rewritten], out & ~rewritten, expired & ~rewritten
    status = np.where(out, _random_status(rng, wa, camp_msg), "received").astype(object)
    release = np.where(out & (send > now_us), send, NAT)
    status[release != NAT] = "queued"
    q = last[queued]
    retry = send[q] <= now_us
    status[q], release[q] = "queued", np.where(retry, now_us + rng.integers(MINUTE, 5 * MINUTE, len(q)), send[q])
    attempts = np.zeros(T, np.int64)
    attempts[q[retry]] = 1
    status[last[sending]] = "sending"
    code, reason = _outcomes(rng, status, wa)
    status[expired], code[expired], reason[expired] = "failed", "63016", describe("63016")
    # Rule 2: STOP, the automatic confirmation at once, then nothing; queued messages are cancelled.
    t[stop + 1] = t[stop] + np.minimum(2 * US, (t[stop + 2] - t[stop]) // 2)
    send[stop + 1] = t[stop + 1]
    cancelled = np.isin(conv, opt) & (status == "queued")
    cancelled[stop + 2] = True
    status[cancelled], reason[cancelled], release[cancelled] = "not_sent", "Contact opted out", NAT
    status[stop + 1], code[stop + 1], reason[stop + 1], release[stop + 1] = "delivered", None, None, NAT
    status[blocked], code[blocked], reason[blocked], release[blocked] = "not_sent", None, WINDOW_CLOSED, NAT

    author = np.where(out, np.where(camp_msg, camp["creator"][np.maximum(campaign, 0)][conv], owner[conv]), -1)
    author[stop + 1] = -1  # Parley's automatic reply
    lang = people["lang"][contact][conv]
    role = np.where(k == b, np.where(campaign[conv] >= 0, 0, 1), np.where(direction == IN, 2, 3))
    if varied_texts:
        first_names, first_code = np.unique(people["first"].astype(str), return_inverse=True)
        first = pa.array(first_names, pa.string()).take(first_code[contact][conv])
        body = texts.Composer().compose(rng, lang, role, first)
    else:  # the stock phrases in turn: each thread says something different until the pool runs out
        flat, off, size = _texts()
        nth = np.zeros(T, np.int64)
        for r in range(len(content.ROLES)):
            nth = np.where(role == r, _in_group(role == r, starts, conv), nth)
        body = pa.array(flat[off[lang, role] + (rng.integers(0, 1 << 20, M)[conv] + nth) % size[lang, role]])
    last_in = np.maximum.reduceat(np.where(direction == IN, t, NAT), starts)
    flagged = _pick(rng, np.flatnonzero((direction[last] == IN) & ~special), max(1, M // 5000))
    rewrite = {
        "campaign": (
            np.flatnonzero(camp_msg),
            _render(camp["spec"], campaign[conv[camp_msg]], people["first"][contact[conv[camp_msg]]]),
        ),
        "stop": (stop, [content.STOP_TEXT] * len(stop)),
        "confirmation": (stop + 1, [content.OPTOUT_CONFIRMATION] * len(stop)),
        "after": (stop + 2, [content.AFTER_OPTOUT_TEXT] * len(stop)),
        "flagged": (last[flagged], [content.POSSIBLE_OPTOUT_TEXT] * len(flagged)),
    }

    # Files on a few hundred messages at most (the bytes are shared by hash anyway).
    eligible = after & np.isin(status, GONE + ["received"]) & ~special[conv]
    eligible[last[flagged]] = False
    chosen = _pick(rng, np.flatnonzero(eligible), min(400, max(12, T // 100)))
    ends_with_file = last[_pick(rng, np.flatnonzero(eligible[last]), 2)]  # inbox preview "📎 name"
    chosen = np.union1d(chosen, ends_with_file)
    by_side = [np.array([i for i, f in enumerate(files) if f["direction"] == side]) for side in ("in", "out")]
    bare = [next(i for i in by_side[side] if not files[i]["caption"]) for side in (IN, OUT)]
    media_file = np.full(T, -1)
    media_file[chosen] = np.where(
        direction[chosen] == IN, rng.choice(by_side[IN], len(chosen)), rng.choice(by_side[OUT], len(chosen))
    )
    # Every file shows somewhere, whatever the draw: a demo (and its tests) must hold a picture, a
    # voice note, a form and a contact card on any day it is generated.
    for side in (IN, OUT):
        slots = np.setdiff1d(chosen[direction[chosen] == side], ends_with_file)[: len(by_side[side])]
        media_file[slots] = by_side[side][: len(slots)]
    media_file[ends_with_file] = np.where(direction[ends_with_file] == IN, bare[IN], bare[OUT])
    rewrite["files"] = (chosen, np.array([f["caption"] for f in files], object)[media_file[chosen]])
    body = texts.with_texts(
        body,
        np.concatenate([np.asarray(index, np.int64) for index, _ in rewrite.values()]),
        np.concatenate([np.asarray(values, object) for _, values in rewrite.values()]),
    )
    return {
        "conv": conv,
        "contact": contact[conv],
        "sender": sender[conv],
        "campaign": np.where(camp_msg, campaign[conv], -1),
        "direction": direction,
        "author": author,
        "body": body,
        "status": status,
        "error_code": code,
        "error_reason": reason,
        "created_at": t,
        "status_at": _status_times(rng, status, t, send, now_us),
        "event_at": np.where(np.isin(status, GONE), send, t),
        "release_at": release,
        "attempts": attempts,
        "media_file": media_file,
        "template": camp_msg & wa,
        "last": last,
        "starts": starts,
        "last_in": last_in,
        "flagged": flagged,
        "waiting": np.concatenate([queued, sending]),
    }
