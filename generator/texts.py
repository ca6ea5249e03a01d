"""Message texts as varied as real traffic, composed for millions of messages at once.

A message is an optional opener, one core sentence (a stock phrase of its
role from ``content.TEXTS`` or a sentence of ``phrases.PHRASES`` with its
day, time, name, amount or number slots filled), up to three more
sentences (long messages: a few percent run past 160 characters), an
optional closing word and an optional emoji, in the writer's language.
Each part is a column of indices into one flat pool of strings, and the
parts are joined by Arrow in C, so ten million texts take seconds and no
Python string per message is made until someone asks for one.

The choices are weighted so that short stock replies ("Thanks! 🙏")
repeat, as they do in real inboxes, while nearly every other text is
distinct; ``tests/generator/test_shape.py`` checks the distinct share.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generator import content, phrases, population, slot_values

SLOT = re.compile(r"\{(day|time|kid|amount|n)\}")
SLOT_KINDS = ("", "day", "time", "kid", "amount", "n")
SIDES = ("in", "out")

# Probabilities of each optional part, customer side ("in") and front-desk side ("out").
P_GREETING = {"in": 0.2, "out": 0.35}  # "Hi Emily! " from the desk, "Hi, it's Emily. " from a customer
P_OPENER = {"in": 0.55, "out": 0.4}
P_EXTRA = {"in": 0.65, "out": 0.65}
P_LONG = 0.05  # four more sentences: such messages run past 160 characters
P_CLOSER = {"in": 0.3, "out": 0.3}
P_EMOJI = {"in": 0.25, "out": 0.1}
P_STOCK = 0.06  # the core is a stock phrase of the role (``content.TEXTS``), which repeats
EXTRAS_WHEN_LONG = 6


MAX_SLOTS = 3


def _split(sentence: str) -> tuple[list[str], list[int]]:
    """'Can I come {day} at {time}?' → (['Can I come ', ' at ', '?', ''], [day, time, none])."""
    parts = SLOT.split(sentence)
    texts, kinds = parts[0::2], [SLOT_KINDS.index(k) for k in parts[1::2]]
    if len(kinds) > MAX_SLOTS:
        raise ValueError(f"at most {MAX_SLOTS} slots per sentence: {sentence!r}")
    return texts + [""] * (MAX_SLOTS + 1 - len(texts)), kinds + [0] * (MAX_SLOTS - len(kinds))


class _Pool:
    """Strings (or split sentences) in one flat list, with an (offset, size) per (language, group)."""

    def __init__(self, langs: list[str], groups: list[str]) -> None:
        self.langs, self.groups = langs, groups
        self.items: list = []
        self.off = np.zeros((len(langs), len(groups)), np.int64)
        self.size = np.zeros_like(self.off)

    def add(self, lang: str, group: str, items: list) -> None:
        if not items:
            raise ValueError(f"empty pool {lang}/{group}")
        li, gi = self.langs.index(lang), self.groups.index(group)
        self.off[li, gi], self.size[li, gi] = len(self.items), len(items)
        self.items += items

    def pick(self, rng: np.random.Generator, lang: np.ndarray, group: np.ndarray) -> np.ndarray:
        return self.off[lang, group] + rng.integers(0, 1 << 40, len(lang)) % self.size[lang, group]


class _Sentences(_Pool):
    def freeze(self) -> None:
        self.texts = [pa.array([s[0][i] for s in self.items], pa.string()) for i in range(MAX_SLOTS + 1)]
        self.kinds = [np.array([s[1][i] for s in self.items], np.int64) for i in range(MAX_SLOTS)]


def _given_names(lang: str) -> list[str]:
    """Children's names for the ``{kid}`` slot: the given names of the cultures writing in ``lang``."""
    return sorted({g for c in population.CULTURES.values() if c[1][0][0] == lang for g in c[2]})


class Composer:
    """Builds the pools once; ``compose`` then makes any number of texts."""

    def __init__(self) -> None:
        langs = self.langs = list(content.LANGUAGES)
        roles = list(content.ROLES)
        self.words = {name: _Pool(langs, list(SIDES)) for name in ("opener", "closer", "emoji")}
        self.greet_pre, self.greet_post = _Pool(langs, list(SIDES)), _Pool(langs, list(SIDES))
        self.cores = _Sentences(langs, [f"{r}/{k}" for r in roles for k in ("stock", "slotted")])
        self.extras = _Sentences(langs, list(SIDES))
        self.slots = _Pool(langs, list(SLOT_KINDS))
        for lang in langs:
            p, sep = phrases.PHRASES[lang], "" if lang in phrases.NO_SPACES else " "
            for side in SIDES:
                self.words["opener"].add(lang, side, [o + sep for o in p[f"open_{side}"]])
                self.words["closer"].add(lang, side, [sep + c for c in p[f"close_{side}"]])
                emoji = phrases.EMOJI_IN if side == "in" else phrases.EMOJI_OUT
                self.words["emoji"].add(lang, side, [sep + e for e in emoji])
                extra = p[f"extra_{side}"] + phrases.EXTRA_SLOTTED[lang][side]
                self.extras.add(lang, side, [_split(sep + e) for e in extra])
            for side, greetings in (("in", phrases.INTRODUCTIONS[lang]), ("out", phrases.GREETINGS[lang])):
                self.greet_pre.add(lang, side, [g[0] for g in greetings])
                self.greet_post.add(lang, side, [g[1] for g in greetings])
            for role in roles:
                side = "out" if role == "out" else "in"
                stock = [t.replace("{", "(").replace("}", ")") for t in content.TEXTS[lang][role]]
                self.cores.add(lang, f"{role}/stock", [_split(t) for t in stock])
                self.cores.add(lang, f"{role}/slotted", [_split(t) for t in p[f"core_{side}"]])
            self.slots.add(lang, "", [""])
            for kind, values in (
                ("day", slot_values.DAYS[lang]),
                ("time", slot_values.TIMES[lang]),
                ("kid", slot_values.KIDS[lang] + _given_names(lang)),
                ("amount", slot_values.AMOUNTS),
                ("n", slot_values.NUMBERS),
            ):
                self.slots.add(lang, kind, values)
        self.cores.freeze()
        self.extras.freeze()
        self.arrays = {name: pa.array(pool.items, pa.string()) for name, pool in self.words.items()}
        self.greet_arrays = (pa.array(self.greet_pre.items, pa.string()), pa.array(self.greet_post.items, pa.string()))
        self.slot_values = pa.array(self.slots.items, pa.string())

    def compose(
        self, rng: np.random.Generator, lang: np.ndarray, role: np.ndarray, first_name: pa.Array | None = None
    ) -> pa.Array:
        """Texts for messages in language ``lang[i]`` (index into ``content.LANGUAGES``), role ``role[i]``
        (index into ``content.ROLES``), to or from someone called ``first_name[i]``."""
        n = len(lang)
        out = role == content.ROLES.index("out")
        side = out.astype(np.int64)

        def chance(p: dict[str, float]) -> np.ndarray:
            return rng.random(n) < np.where(out, p["out"], p["in"])

        def word(name: str, on: np.ndarray) -> pa.Array:
            return self._where(on, self.arrays[name].take(self.words[name].pick(rng, lang, side)))

        greeted = chance(P_GREETING) & (first_name is not None)
        parts = []
        if first_name is not None and greeted.any():
            pre = self.greet_arrays[0].take(self.greet_pre.pick(rng, lang, side))
            post = self.greet_arrays[1].take(self.greet_post.pick(rng, lang, side))
            parts.append(self._where(greeted, pc.binary_join_element_wise(pre, first_name, post, "")))
        parts.append(word("opener", chance(P_OPENER) & ~greeted))
        stock = rng.random(n) < P_STOCK
        parts.append(self._sentence(rng, self.cores, lang, 2 * role + (~stock).astype(np.int64)))
        long = rng.random(n) < P_LONG
        first_extra = self.extras.pick(rng, lang, side)
        for k in range(EXTRAS_WHEN_LONG):
            on = (long & (k < self.extras.size[lang, side])) | (chance(P_EXTRA) if k == 0 else np.zeros(n, bool))
            # consecutive sentences of the pool: a long message never says the same thing twice
            index = (
                self.extras.off[lang, side]
                + (first_extra - self.extras.off[lang, side] + k) % self.extras.size[lang, side]
            )
            parts.append(self._where(on, self._sentence(rng, self.extras, lang, side, index)))
        parts.append(word("closer", chance(P_CLOSER)))
        parts.append(word("emoji", chance(P_EMOJI)))
        return pc.binary_join_element_wise(*parts, "")

    def _sentence(
        self,
        rng: np.random.Generator,
        pool: _Sentences,
        lang: np.ndarray,
        group: np.ndarray,
        index: np.ndarray | None = None,
    ) -> pa.Array:
        index = pool.pick(rng, lang, group) if index is None else index
        parts = [pool.texts[0].take(index)]
        for i in range(MAX_SLOTS):
            parts.append(self.slot_values.take(self.slots.pick(rng, lang, pool.kinds[i][index])))
            parts.append(pool.texts[i + 1].take(index))
        return pc.binary_join_element_wise(*parts, "")

    @staticmethod
    def _where(on: np.ndarray, values: pa.Array) -> pa.Array:
        return pc.if_else(pa.array(on), values, pa.scalar("", pa.string()))


def with_texts(texts: pa.Array, index: np.ndarray, values) -> pa.Array:
    """``texts`` with ``texts[index[k]] = values[k]`` (``index`` without repeats)."""
    if len(index) == 0:
        return texts
    index = np.asarray(index)
    order = np.argsort(index, kind="stable")
    mask = np.zeros(len(texts), bool)
    mask[index] = True
    replacement = pa.array(np.asarray(values, object)[order], pa.string())
    return pc.replace_with_mask(texts, pa.array(mask), replacement)
