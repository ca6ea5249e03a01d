"""Turning what a person types into a contact filter (name or number).

Names match any part, any case, accents ignored, against the
``contacts.search_name`` column (kept normalised on write). Numbers match
the digits of the stored E.164 however they were typed. Matching uses
DuckDB's ``contains`` (a literal substring test), so ``%``, ``_``, quotes
and regex syntax in the query are just characters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.phones import normalize_name, search_digits

MAX_QUERY = 100


@dataclass(frozen=True)
class SearchFilter:
    text: str  # normalised name fragment ('' when the query is a number)
    digits: str | None  # digits to find in the phone number

    def contact_predicate(self, alias: str) -> tuple[str, list[Any]]:
        if self.digits is not None:
            if self.text:
                return (
                    f"(contains({alias}.phone_digits, ?) OR contains({alias}.search_name, ?))",
                    [self.digits, self.text],
                )
            return f"contains({alias}.phone_digits, ?)", [self.digits]
        return f"contains({alias}.search_name, ?)", [self.text]


def parse_search(query: str | None) -> SearchFilter | None:
    """None when there is nothing to search for."""
    if query is None:
        return None
    query = query.strip()[:MAX_QUERY]
    if not query:
        return None
    digits = search_digits(query)
    text = normalize_name(query)
    if digits is not None:
        # A query of digits and punctuation is a number; keep the text too in
        # case a name contains digits ("Suite 55").
        return SearchFilter(text=text if any(ch.isalpha() for ch in query) else "", digits=digits)
    return SearchFilter(text=text, digits=None)
