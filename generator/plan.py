"""Planning the generated workspace: whole columns with numpy, rows by position.

``generator.write`` writes what this plans. Nothing here touches the
database; the plan obeys the domain rules described there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from core import phones, settings
from core.compliance import hours
from core.compliance.keywords import classify
from core.provider_errors import describe
from generator import content, population, texts

DEMO_PASSWORD = "parley-demo"
DEMO_AGENTS = [("maria", "María López"), ("james", "James Carter"), ("aiko", "Aiko Tanaka")]
SMS_SENDER, WHATSAPP_SENDER, TOLL_FREE_SENDER = "+14155550100", "+14155550199", "+18885550142"
WINDOW_CLOSED = "WhatsApp window closed: only registered templates can be sent"
RETRY_ERROR = "HTTP 429 Too Many Requests: provider busy, retrying"

US, MINUTE = 1_000_000, 60_000_000
DAY = 86_400 * US
EPOCH = dt.datetime(1970, 1, 1)
NAT = np.iinfo(np.int64).min
IN, OUT = 0, 1


@dataclass
class Plan:
    contacts: dict
    campaigns: dict
    conversations: dict
    messages: dict
    optouts: dict
    read_markers: dict
    files: list
    giants: np.ndarray  # positions of the long threads among the conversations


def _us(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(microseconds=1)


def _pick(rng: np.random.Generator, candidates: np.ndarray, k: int) -> np.ndarray:
    return rng.choice(candidates, min(k, len(candidates)), replace=False) if len(candidates) else candidates


def _in_group(flags: np.ndarray, starts: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running count of ``flags`` within each group (groups are contiguous runs)."""
    total = np.cumsum(flags)
    return total - (total[starts] - flags[starts])[group]


class _Clock:
    """When a message written at ``t`` may go out, by the live rules (default settings)."""

    def __init__(self) -> None:
        self.business = settings.business_hours_from_json(settings.DEFAULTS["business_hours"])
        quiet = settings.DEFAULTS["quiet_hours"]
        self.quiet = hours.QuietHours(
            start=dt.time.fromisoformat(quiet["start"]), end=dt.time.fromisoformat(quiet["end"])
        )
        self.zones = sorted({phones.phone_timezone(f"+1{ac}2345678") for ac in population.AREA_CODES})
        self._answers: dict[int, int] = {}
        self.zone_of_area = np.zeros(1000, np.int64)
        for ac in population.AREA_CODES:
            self.zone_of_area[ac] = self.zones.index(phones.phone_timezone(f"+1{ac}2345678"))

    def release(self, t: np.ndarray, zone: np.ndarray) -> np.ndarray:
        # Every boundary (openings, 8:00/21:00 local, midnights) falls on a quarter hour,
        # so a quarter hour is either wholly open or wholly closed: ask once per quarter and zone.
        quarter = t - t % (15 * MINUTE)
        keys, inverse = np.unique(quarter // (15 * MINUTE) * 64 + zone, return_inverse=True)
        answers = np.array([self._answer(int(key)) for key in keys], dtype=np.int64)[inverse]
        return np.where(answers == quarter, t, answers)

    def _answer(self, key: int) -> int:
        if key not in self._answers:  # the same quarters come up in every call
            self._answers[key] = _us(
                hours.next_send_time(
                    EPOCH + dt.timedelta(minutes=15 * (key // 64)), self.business, self.zones[key % 64], self.quiet
                )
            )
        return self._answers[key]

    def campaign_time(self, day: dt.date) -> int:
        """A weekday (not a holiday) at 16:30 UTC: inside business and quiet hours for every US recipient."""
        while day.weekday() >= 5 or day in self.business.holidays:
            day -= dt.timedelta(days=1)
        return _us(dt.datetime.combine(day, dt.time(16, 30)))


def _people(rng: np.random.Generator, n: int, now_us: int) -> dict:
    keys = list(population.CULTURES)
    weights = np.array([population.CULTURES[k][0] for k in keys])
    culture = rng.choice(len(keys), n, p=weights / weights.sum())
    given_i, family_i = rng.integers(0, 1 << 20, (2, n))
    names, firsts, lang = np.empty(n, object), np.empty(n, object), np.zeros(n, np.int64)
    for ci, key in enumerate(keys):
        _, langs, given, family, order = population.CULTURES[key]
        idx = np.flatnonzero(culture == ci)
        lang[idx] = rng.choice([content.LANGUAGES.index(lg) for lg, _ in langs], len(idx), p=[w for _, w in langs])
        g = np.array(given, object)[given_i[idx] % len(given)]
        f = np.array(family, object)[family_i[idx] % len(family)]
        firsts[idx] = g
        names[idx] = g + " " + f if order == "gf" else (f + g if order == "fg" else f + " " + g)
    named = rng.random(n) >= 0.05
    names[~named], firsts[~named] = None, "there"
    email, tags, notes = (np.full(n, None, object) for _ in range(3))
    latin = np.isin(culture, [keys.index(k) for k in ("en", "es", "pt", "fr", "de")]) & named
    for i in np.flatnonzero(latin & (rng.random(n) < 0.2)):
        email[i] = phones.normalize_name(names[i]).replace("'", "").replace(" ", ".") + "@example.com"
    for column, values, share in ((tags, population.TAGS, 0.1), (notes, population.NOTES, 0.03)):
        idx = np.flatnonzero(rng.random(n) < share)
        column[idx] = np.array(values, object)[rng.integers(0, len(values), len(idx))]
    return {
        "name": names,
        "first": firsts,
        "lang": lang,
        "email": email,
        "tags": tags,
        "notes": notes,
        "created_at": now_us - rng.integers(35 * DAY, 400 * DAY, n),
        "number": _phone_numbers(rng, n),
    }


def _phone_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Valid US numbers as integers: fictional NPA-555-01XX first, then random exchanges for scale."""
    base = 10_000_000_000 + np.array(population.AREA_CODES, np.int64) * 10_000_000
    fictional = (base[:, None] + 5_550_000 + np.arange(100, 200)[None, :]).ravel()
    fictional = fictional[~np.isin(fictional, [int(SMS_SENDER[1:]), int(WHATSAPP_SENDER[1:])])]
    chosen = rng.choice(fictional, min(n, len(fictional)), replace=False)
    rest = n - len(chosen)
    if rest:
        exchanges = np.array([e for e in range(200, 1000) if e % 100 != 11 and e not in (555, 950, 958, 959, 976)])
        k = rest + rest // 10 + 64
        while True:
            cand = (
                base[rng.integers(0, len(base), k)]
                + exchanges[rng.integers(0, len(exchanges), k)] * 10_000
                + rng.integers(0, 10_000, k)
            )
            _, first = np.unique(cand, return_index=True)
            if len(first) >= rest:
                break
            k *= 2
        chosen = np.concatenate([chosen, cand[np.sort(first)][:rest]])
    return chosen[rng.permutation(n)]


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


def thread_lengths(rng: np.random.Generator, n: int, mean: float, longest: int) -> np.ndarray:
    """Messages per conversation with a heavy tail, as real inboxes have: most conversations
    are a handful of messages, one in a few hundred passes 100, a rare one a thousand.

    A log-normal (sigma 1.2) of at least 2, its location found so that the mean is ``mean``.
    """
    sigma, draws = 1.2, rng.standard_normal(n)
    low, high = -5.0, np.log(max(mean, 2.0)) + 1
    for _ in range(50):  # bisection on the location: the clipped mean grows with it
        mu = (low + high) / 2
        lengths = np.clip(np.round(np.exp(mu + sigma * draws)), 2, longest)
        low, high = (mu, high) if lengths.mean() < mean else (low, mu)
    return np.clip(np.round(np.exp((low + high) / 2 + sigma * draws)), 2, longest).astype(np.int64)


def plan_workspace(
    *,
    now: dt.datetime,
    agents: int,
    contacts: int,
    conversations: int,
    per_conversation: tuple[int, int] | float,
    big: int,
    campaigns: int,
    seed: int,
    files: list,
    giants: int = 1,
    history_days: int = 30,
    varied_texts: bool = False,
    unanswered: float = 2.0,
) -> Plan:
    """``per_conversation`` is a (least, most) range of messages, or a mean for a heavy tail
    (``thread_lengths``); ``giants`` conversations of ``big`` messages each run through the
    whole history of ``history_days`` days. ``varied_texts``: texts composed word by word
    (``generator.texts``) rather than the stock phrases in turn; ``unanswered``: campaign
    messages nobody answered, per conversation a campaign started."""
    if agents < 1 or campaigns < 1:
        raise ValueError("A workspace needs at least one agent and one campaign.")
    G = giants if big else 0
    C, M, K = contacts, conversations + G, campaigns
    if M > 2 * C:
        raise ValueError("Give at least one contact for every two conversations.")
    if history_days < 30:
        raise ValueError("Generate at least 30 days of history.")
    rng = np.random.default_rng(seed)
    now_us, clk = _us(now), _Clock()
    people = _people(rng, C, now_us)
    people["zone"] = clk.zone_of_area[(people["number"] // 10_000_000) % 1000]
    # Campaigns, one per agent in turn (user position 0 is the admin), on weekdays from the start
    # of the history to 3 days ago.
    spec = [content.CAMPAIGNS[k % len(content.CAMPAIGNS)] for k in range(K)]
    first_day = history_days - 1
    camp = {
        "spec": spec,
        "sender": np.array([0 if s[1] == "sms" else 1 for s in spec]),
        "creator": 1 + np.arange(K) % agents,
        "sent": np.array(
            [
                clk.campaign_time(
                    now.date() - dt.timedelta(days=round(first_day - (first_day - 3) * k / max(1, K - 1)))
                )
                for k in range(K)
            ],
            dtype=np.int64,
        ),
    }

    # Conversations: one per (contact, sender); some contacts write on both SMS and WhatsApp.
    dual = max(M // 7, M - C)
    used = M - dual
    perm = rng.permutation(C)
    contact = np.concatenate([perm[:used], perm[:dual]])
    sender = (rng.random(M) < 0.3).astype(np.int64)
    sender[:G] = 0  # the long threads are SMS: no 24-hour window to keep reopening
    sender[used:] = 1 - sender[:dual]
    campaign = np.full(M, -1)
    solicited = rng.random(M) >= 0.06
    for s in (0, 1):
        ks, idx = np.flatnonzero(camp["sender"] == s), np.flatnonzero((sender == s) & solicited)
        if len(ks):
            campaign[idx] = ks[rng.integers(0, len(ks), len(idx))]
    sms_campaigns = np.flatnonzero(camp["sender"] == 0)
    campaign[:G] = sms_campaigns[np.arange(G) % len(sms_campaigns)] if G else campaign[:G]
    if M >= 20 and (campaign < 0).sum() < 2:
        campaign[-2:] = -1
    owner = np.where(campaign >= 0, camp["creator"][np.maximum(campaign, 0)], 0)
    first_in = (campaign >= 0).astype(np.int64)  # position of the first inbound message
    if isinstance(per_conversation, tuple):
        lengths = rng.integers(per_conversation[0], per_conversation[1] + 1, M)
    else:
        lengths = thread_lengths(rng, M, per_conversation, max(2, min(5_000, big // 2 or 5_000)))
    count = np.maximum(lengths, first_in + 1)
    count[:G] = max(big, 2)
    not_big = np.arange(M) >= G
    single = np.zeros(M, bool)
    single[dual:used] = True
    opt = _pick(rng, np.flatnonzero(single & (sender == 0) & (campaign >= 0) & not_big), max(1, M // 2000))
    count[opt] = np.maximum(count[opt], first_in[opt] + 3)

    # Thread times: first message, first reply (= created_at), last message; some ended minutes ago.
    start = np.where(
        campaign >= 0,
        camp["sent"][np.maximum(campaign, 0)] + rng.integers(0, 30 * MINUTE, M),
        now_us - rng.integers(DAY // 24, (history_days - 1) * DAY, M),
    )
    delay = (np.clip(np.exp(rng.normal(np.log(25 * 60), 1.6, M)), 20, 5 * 86_400) * US).astype(np.int64)
    reply = np.minimum(np.where(campaign >= 0, start + delay, start), now_us - (60 + count * 10) * US)
    start = np.minimum(start, reply - first_in * 20 * US)
    if history_days <= 30:  # a month: threads end anywhere up to now, most of them lately
        end = now_us - 60 * US - ((now_us - 60 * US - reply) * rng.random(M) ** 2).astype(np.int64)
    else:  # years: a thread lasts hours to weeks, longer the more is said
        lasting = np.exp(rng.normal(np.log(count * 40 * MINUTE), 1.3)).astype(np.int64)
        end = np.minimum(reply + lasting, now_us - 60 * US)
    end[:G] = now_us - rng.integers(MINUTE, 30 * MINUTE, G)  # the long threads run until today
    hot = _pick(rng, np.flatnonzero((count >= first_in + 2) & not_big), max(5, M // 40))
    end[hot] = now_us - rng.integers(MINUTE, 55 * MINUTE, len(hot))
    end = np.maximum(end, reply + (count - first_in - 1) * 10 * US)

    order = np.argsort(reply, kind="stable")  # conversation ids follow creation time
    rank = np.empty(M, np.int64)
    rank[order] = np.arange(M)
    cv = {
        "contact": contact,
        "sender": sender,
        "campaign": campaign,
        "owner": owner,
        "first_in": first_in,
        "count": count,
        "start": start,
        "reply": reply,
        "end": end,
    }
    cv = {key: value[order] for key, value in cv.items()}
    giant_ranks = np.sort(rank[:G])
    msgs = _messages(rng, now_us, clk, people, cv, camp, np.sort(rank[opt]), giant_ranks, files, varied_texts)
    return _finish(rng, now_us, clk, people, cv, camp, msgs, np.sort(rank[opt]), giant_ranks, files, unanswered)


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


def _finish(
    rng,
    now_us: int,
    clk: _Clock,
    people: dict,
    cv: dict,
    camp: dict,
    m: dict,
    opt: np.ndarray,
    giants: np.ndarray,
    files: list,
    unanswered: float,
) -> Plan:
    contact, sender, campaign, count = cv["contact"], cv["sender"], cv["campaign"], cv["count"]
    M, C, K = len(count), len(people["name"]), len(camp["spec"])
    last, t, body = m["last"], m["created_at"], m["body"]
    # Conversation summaries come from the messages themselves; about a third are unread by their owner.
    last_at, last_out = t[last], m["direction"][last] == OUT
    names = [f["filename"] for f in files]
    preview = np.array(
        [
            " ".join(text.split())[:120] if text else "📎 " + names[m["media_file"][i]]
            for i, text in zip(last, body.take(last).to_pylist())
        ],
        object,
    )
    flag = np.full(M, None, object)
    flag[m["flagged"]] = content.POSSIBLE_OPTOUT_TEXT[:200]
    unread = ~last_out & (rng.random(M) < 2 / 3)
    unread[m["flagged"]] = True
    marker = ~unread | (rng.random(M) < 0.5)  # unread: never opened, or opened before the last message came
    read_at = np.where(
        unread,
        m["last_in"] - rng.integers(1, 3600, M) * US,
        np.minimum(last_at + rng.integers(5, 1800, M) * US, now_us),
    )
    closed = ~unread & (last_at < now_us - 2 * DAY) & (rng.random(M) < 0.45)
    closed[m["waiting"]] = False
    closed[m["conv"][m["status"] == "queued"]] = False
    conversations = {
        "contact": contact,
        "sender": sender,
        "campaign": campaign,
        "owner": cv["owner"],
        "count": count,
        "created_at": t[m["starts"] + cv["first_in"]],
        "last_message_at": last_at,
        "last_out": last_out,
        "last_inbound_at": m["last_in"],
        "preview": preview,
        "optout_flag": flag,
        "closed_at": np.where(closed, np.minimum(last_at + rng.integers(10 * MINUTE, DAY, M), now_us), NAT),
    }

    # Rule 1: campaign recipients who never answered got their message, and have no conversation.
    pair = np.zeros((C, 2), bool)
    pair[contact, sender] = True
    excluded = np.zeros(C, bool)
    excluded[contact[opt]] = excluded[contact[campaign < 0]] = True
    repliers = np.bincount(campaign[campaign >= 0], minlength=K)
    rc, rk = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for s in (0, 1):
        ks = np.flatnonzero(camp["sender"] == s)
        avail = rng.permutation(np.flatnonzero(~pair[:, s] & ~excluded))
        for i, kk in enumerate(ks):
            share = len(avail) // len(ks)
            rc.append(avail[i * share : i * share + min(share, max(20, round(unanswered * int(repliers[kk]))))])
            rk.append(np.full(len(rc[-1]), kk))
    rc, rk = np.concatenate(rc), np.concatenate(rk)
    t2 = camp["sent"][rk] + rng.integers(0, 30 * MINUTE, len(rk))
    order = np.argsort(t2, kind="stable")
    rc, rk, t2 = rc[order], rk[order], t2[order]
    wa2 = camp["sender"][rk] == 1
    send2 = clk.release(t2, people["zone"][rc])
    st2 = _random_status(rng, wa2, np.zeros(len(rk), bool))
    st2[wa2 & (st2 == "sent")] = "delivered"
    code2, reason2 = _outcomes(rng, st2, wa2)

    def cat(a, b):
        return np.concatenate([np.asarray(a), np.asarray(b)])

    created, status = cat(t, t2), cat(m["status"], st2)
    id_rank = np.empty(len(created), np.int64)
    id_rank[np.argsort(created, kind="stable")] = np.arange(len(created))
    n2 = len(rk)
    messages = {
        "conv": cat(m["conv"], np.full(n2, -1)),
        "contact": cat(m["contact"], rc),
        "sender": cat(m["sender"], camp["sender"][rk]),
        "campaign": cat(m["campaign"], rk),
        "direction": cat(m["direction"], np.full(n2, OUT)),
        "author": cat(m["author"], camp["creator"][rk]),
        "body": pa.concat_arrays([body, pa.array(_render(camp["spec"], rk, people["first"][rc]), pa.string())]),
        "status": status,
        "error_code": cat(m["error_code"], code2),
        "error_reason": cat(m["error_reason"], reason2),
        "created_at": created,
        "status_at": cat(m["status_at"], _status_times(rng, st2, t2, send2, now_us)),
        "event_at": cat(m["event_at"], send2),
        "release_at": cat(m["release_at"], np.full(n2, NAT)),
        "attempts": cat(m["attempts"], np.zeros(n2, np.int64)),
        "media_file": cat(m["media_file"], np.full(n2, -1)),
        "template": cat(m["template"], wa2),
        "id_rank": id_rank,
        "has_pid": np.isin(status, GONE + ["received"]),
    }
    campaigns = {
        "name": np.array(
            [
                s[0] + (f" #{k // len(content.CAMPAIGNS) + 1}" if k >= len(content.CAMPAIGNS) else "")
                for k, s in enumerate(camp["spec"])
            ],
            object,
        ),
        "sender": camp["sender"],
        "body": np.array([s[2] for s in camp["spec"]], object),
        "creator": camp["creator"],
        "created_at": camp["sent"] - 20 * MINUTE,
        "recipients": repliers + np.bincount(rk, minlength=K),
    }

    # Contacts: who opted out, and people who wrote in unprompted (often just a number).
    stop = last[opt] - 2
    opted_out, opted_out_at = np.zeros(C, bool), np.full(C, NAT)
    opted_out[contact[opt]], opted_out_at[contact[opt]] = True, t[stop]
    created_c, names = people["created_at"].copy(), people["name"].copy()
    newcomers = np.flatnonzero(campaign < 0)
    newcomers = newcomers[(np.bincount(contact, minlength=C) == 1)[contact[newcomers]]]
    created_c[contact[newcomers]] = conversations["created_at"][newcomers]
    names[contact[newcomers[rng.random(len(newcomers)) < 0.5]]] = None
    digits = people["number"].astype(str)
    folded = {x: phones.normalize_name(x) for x in set(names.tolist()) if x}
    contacts = {
        "phone": np.char.add("+", digits),
        "phone_digits": digits,
        "name": names,
        "search_name": np.array([folded[x] if x else "" for x in names], object),
        "email": people["email"],
        "tags": people["tags"],
        "notes": people["notes"],
        "opted_out": opted_out,
        "opted_out_at": opted_out_at,
        "created_at": created_c,
        "updated_at": np.maximum(created_c, opted_out_at),
    }

    flagged = m["flagged"]
    optouts = {
        "contact": cat(contact[opt], contact[flagged]),
        "sender": cat(sender[opt], sender[flagged]),
        "kind": np.array(["opt_out"] * len(opt) + ["flagged"] * len(flagged), object),
        "keyword": np.array(
            [content.STOP_TEXT] * len(opt) + [classify(content.POSSIBLE_OPTOUT_TEXT).keyword] * len(flagged), object
        ),
        "message": cat(stop, last[flagged]),
        "occurred_at": cat(t[stop], t[last[flagged]]),
    }
    return Plan(
        contacts=contacts,
        campaigns=campaigns,
        conversations=conversations,
        messages=messages,
        optouts=optouts,
        read_markers={"conv": np.flatnonzero(marker), "read_at": read_at[marker]},
        files=files,
        giants=giants,
    )
