"""The rest of the generated workspace's plan, from its messages: the conversations' summary
columns and read state, the campaign messages nobody answered, the campaigns, the contacts
(who opted out, who wrote in unprompted) and the opt-out history.

Part of ``generator.plan`` (which calls ``_finish`` once the messages are planned).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from core import phones
from core.compliance.keywords import classify
from generator import content
from generator.plan_messages import GONE, _outcomes, _random_status, _render, _status_times
from generator.plan_shared import DAY, MINUTE, NAT, OUT, US, Plan, _Clock


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
        read_markers={"conv": np.flatnonzero(marker), "read_at": read_at[marker], "unread": unread[marker]},
        files=files,
        giants=giants,
    )
