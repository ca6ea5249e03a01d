"""Planning the generated workspace: whole columns with numpy, rows by position.

``generator.write`` writes what this plans. Nothing here touches the
database; the plan obeys the domain rules described there.

This module plans the contacts, campaigns and conversations; their messages are planned in
``generator.plan_messages``, and the rest follows from them in ``generator.plan_finish``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from core import phones
from generator import content, population
from generator.plan_finish import _finish
from generator.plan_messages import _messages
from generator.plan_shared import DAY, MINUTE, SMS_SENDER, US, WHATSAPP_SENDER, Plan, _Clock, _pick, _us


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
