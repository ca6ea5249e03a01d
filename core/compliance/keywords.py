"""Opt-out, opt-in and help keywords in inbound messages (rule 2).

A message that *is* a keyword (ignoring case, spacing and punctuation around
it) acts at once: opt out everywhere, opt back in, or get the help reply.
Wording that merely looks like an opt-out request ("please stop texting
me") is only flagged for an agent to confirm, because the FCC asks us to
honour reasonable natural-language requests but a wrong guess would silence
a customer who did not ask for it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

Kind = Literal["opt_out", "opt_in", "help", "possible_opt_out"]

OPT_OUT_KEYWORDS = frozenset(
    {
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "STOP ALL",
        "OPT OUT",
    }
)
OPT_IN_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})

# Keywords whose meaning is unambiguous even with a polite word around them
# ("STOP PLEASE"). CANCEL, END and QUIT are left out: "cancel please" at a
# dental office is about an appointment far more often than about texts.
_UNAMBIGUOUS_OPT_OUT = {"stop", "stopall", "unsubscribe", "unsub", "optout", "revoke", "baja", "alto"}
_POLITE_FILLERS = {
    "please",
    "pls",
    "plz",
    "now",
    "it",
    "all",
    "me",
    "thanks",
    "thank",
    "you",
    "thx",
    "ty",
    "ok",
    "okay",
    "asap",
    "already",
    "immediately",
    "right",
    "just",
    "again",
    "por",
    "favor",
    "porfavor",
    "gracias",
    "ya",
}

# Words that tie "stop"/"quit" to being messaged, so "I can't stop smiling"
# and "stop by the office" are not flagged.
_MESSAGING = (
    r"(?:text\w*|txt\w*|messag\w*|msgs?|sms|contact\w*|call\w*|send\w*|spam\w*|bother\w*|harass\w*"
    r"|email\w*|notifications?|alerts?|promo\w*|marketing)"
)
# Things one cancels when opting out; "cancel my appointment" is not one.
_SUBSCRIPTIONS = r"(?:subscription|texts|messages|msgs|sms|alerts|notifications|marketing|promo\w*)"
# Verbs in "don't text me": "send" is left out because "don't send me the bill" is not an opt-out.
_CONTACT_VERBS = r"(?:text|txt|messag|msg|sms|contact|call|email|spam|bother|harass)\w*"

_POSSIBLE_OPT_OUT = re.compile(
    "|".join(
        [
            rf"\b(?:stop|cease)\b(?!\s+by\b)(?:\s+\w+){{0,3}}?\s+{_MESSAGING}\b",
            rf"\bquit\s+{_MESSAGING}\b",
            rf"\bcancel\b(?:\s+\w+){{0,3}}?\s+{_SUBSCRIPTIONS}\b",
            r"\bunsub(?:scribe)?\b",
            r"\bopt(?:ing)?[\s\-_]*out\b",
            r"\b(?:remove|delete|erase)\s+(?:me|my\s+(?:number|phone|cell|info\w*))\b",
            r"\b(?:take|get|drop)\s+(?:me|my\s+(?:number|phone|cell))\s+(?:off|out\s+of)\b",
            r"\boff\s+(?:your|the|this|ur)\s+(?:\w+\s+)?(?:list|database|system|contacts)\b",
            rf"\b(?:don'?t|do\s+not|never|no\s+longer)\s+(?:ever\s+)?{_CONTACT_VERBS}\s+(?:me|us)\b",
            rf"\bno\s+more\s+{_MESSAGING}",
            r"\b(?:leave|let)\s+me\s+alone\b",
            # Spanish (accents are folded away before matching).
            r"\bno\s+me\s+(?:envie[ns]?|mande[ns]?|escriba[ns]?|contacte[ns]?|llame[ns]?)\b",
            r"\b(?:deja|dejen|dejar|para|paren|parar)\s+de\s+(?:enviar|mandar|escribir|contactar|llamar)",
            r"\b(?:dar(?:me)?|den(?:me)?|doy|darse)\s+de\s+baja\b",
            r"\bno\s+(?:quiero|deseo)\s+(?:recibir\s+)?(?:mas\s+)?(?:mensajes|textos|sms)\b",
            r"\bno\s+mas\s+(?:mensajes|textos|sms)\b",
            r"\bcancelar\s+(?:la\s+|mi\s+)?suscripcion\b",
        ]
    ),
)

MAX_PHRASE = 40  # the matched phrase is stored for the audit trail; keep it short
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'"})


@dataclass(frozen=True)
class KeywordResult:
    """What an inbound body asks for; ``keyword`` is the canonical word matched (upper case)."""

    kind: Kind | None
    keyword: str | None = None


NO_KEYWORD = KeywordResult(None, None)


def _is_edge_noise(ch: str) -> bool:
    # Punctuation, symbols (emoji) and spaces around a keyword do not change it.
    return ch.isspace() or unicodedata.category(ch)[0] in "PSCZ"


def exact_form(body: str) -> str:
    """The body as compared against the keyword lists: 'Stop!!' and ' stop. ' → 'STOP'."""
    text = unicodedata.normalize("NFKC", body)  # full-width ＳＴＯＰ → STOP
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    # "opt-out", "opt_out" and "stop   all" are the same keywords as "opt out" and "stop all".
    words = re.split(r"[\s\-_]+", text[start:end])
    return " ".join(w for w in words if w).upper()


def _folded_words(body: str) -> str:
    """Lower case, accents and curly apostrophes folded, for the natural-language patterns."""
    decomposed = unicodedata.normalize("NFKD", body.casefold().translate(_APOSTROPHES))
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def _is_polite_keyword(folded: str) -> str | None:
    """'stop please', 'please STOP!!', 'baja por favor' → the keyword; else None."""
    words = re.findall(r"[a-z]+", folded)
    if not words or len(words) > 6:
        return None
    keywords = [w for w in words if w in _UNAMBIGUOUS_OPT_OUT]
    if keywords and all(w in _POLITE_FILLERS or w in _UNAMBIGUOUS_OPT_OUT for w in words):
        return keywords[0].upper()
    return None


def classify(body: str | None) -> KeywordResult:
    """Classify an inbound SMS/WhatsApp body for rule 2."""
    if not body or not body.strip():
        return NO_KEYWORD
    exact = exact_form(body)
    if exact in OPT_OUT_KEYWORDS:
        return KeywordResult("opt_out", exact)
    if exact in OPT_IN_KEYWORDS:
        return KeywordResult("opt_in", exact)
    if exact in HELP_KEYWORDS:
        return KeywordResult("help", exact)
    folded = _folded_words(body)
    polite = _is_polite_keyword(folded)
    if polite:
        return KeywordResult("possible_opt_out", polite)
    match = _POSSIBLE_OPT_OUT.search(folded)
    if match:
        return KeywordResult("possible_opt_out", match.group(0).strip().upper()[:MAX_PHRASE])
    return NO_KEYWORD
