"""Phone numbers and contact-search text.

Parley stores numbers only as E.164 strings (``+14155550123``) parsed with
``phonenumbers``; everything here turns what providers send or people type
into that form, and back into something readable.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers as pn
from phonenumbers import timezone as pn_timezone
from phonenumbers.tzdata import TIMEZONE_DATA

from core.errors import ValidationError

DEFAULT_REGION = "US"
UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers when it cannot tell
MIN_SEARCH_DIGITS = 3  # fewer digits would match nearly every number

# When a number maps to several zones (toll-free numbers, mobiles in large
# countries), the country's most populous zone is the least surprising guess.
PREFERRED_ZONES = {
    "US": "America/New_York",
    "CA": "America/Toronto",
    "GB": "Europe/London",
    "ES": "Europe/Madrid",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "MX": "America/Mexico_City",
    "AR": "America/Argentina/Buenos_Aires",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "NZ": "Pacific/Auckland",
    "CL": "America/Santiago",
    "EC": "America/Guayaquil",
    "FR": "Europe/Paris",
    "NL": "Europe/Amsterdam",
    "DK": "Europe/Copenhagen",
}

# Letters that Unicode does not decompose into a base letter plus an accent,
# folded by hand so that "Søren" is found by typing "soren".
_UNDECOMPOSABLE_LETTERS = str.maketrans(
    {
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "ħ": "h",
        "ı": "i",
        "þ": "th",
        "æ": "ae",
        "œ": "oe",
    }
)


# A first message from a new number parses it three times: its E.164 form (``to_e164``), how it
# reads (``format_phone_display``, given that E.164 form, which is what Twilio sends as ``From``)
# and its time zones (``phone_timezones``); phonenumbers' validity check costs tens of µs each.
# Callers only read the number it returns, never change it, so one object may serve them all.
@functools.lru_cache(maxsize=4096)
def _parse(raw: str | None, region: str) -> pn.PhoneNumber | None:
    """A valid parsed number, or None. Accepts Twilio and Meta spellings. Shared: do not change it."""
    if raw is None:
        return None
    text = str(raw).strip()
    if text[:9].lower() == "whatsapp:":  # Twilio's WhatsApp addresses
        text = text[9:].strip()
    # Digits with no '+' of unknown origin: more than 10 cannot be a national US number, so they
    # must already carry their country code. (Meta's numbers always do, whatever their length:
    # ``international_to_e164``.)
    if text.isascii() and text.isdigit() and len(text) > 10:
        text = "+" + text
    try:
        number = pn.parse(text, region)
    except pn.NumberParseException:
        return None
    return number if pn.is_valid_number(number) else None


@functools.lru_cache(maxsize=65536)  # webhooks repeat numbers: our senders, customers who write again
def to_e164(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The E.164 form of ``raw`` (``+14155550123``), or None when it is not a valid number."""
    number = _parse(raw, region)
    return None if number is None else pn.format_number(number, pn.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=65536)
def international_to_e164(raw: str | None) -> str | None:
    """The E.164 form of a number that always carries its country code, with or without the '+'
    (Meta's ``from``, ``wa_id`` and ``display_phone_number``), or None when it is not valid.

    ``to_e164`` cannot know that: it reads ten digits or fewer as a US national number, so
    Singapore's ``6598765432`` (+65 9876 5432) became +1 659-876-5432. Here all digits always
    get the '+', whatever their count; any other spelling is read as ``to_e164`` reads it.
    """
    if raw is None:
        return None
    text = str(raw).strip()
    digits = text[1:] if text.startswith("+") else text
    if not (digits.isascii() and digits.isdigit()):
        return to_e164(text)
    try:
        number = pn.parse("+" + digits, None)
    except pn.NumberParseException:
        return None
    return pn.format_number(number, pn.PhoneNumberFormat.E164) if pn.is_valid_number(number) else None


EXTENSION_HINT = re.compile(r"(?i)(?:x|ext|extension|#|;)\W*\d+\s*$")  # how an extension ends a number


def extension_of(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """The extension written after a valid number (``x12``, ``ext. 12``, ``#12``), or None.

    ``to_e164`` drops it: a text goes to the number itself, and no extension can receive one."""
    if raw is None or not EXTENSION_HINT.search(str(raw)):
        return None
    number = _parse(raw, region)
    return (number.extension or None) if number is not None else None


def parse_phone(raw: str | None, region: str = DEFAULT_REGION) -> str:
    """Like ``to_e164`` but raises ``ValidationError`` with a sentence for the user.

    A number typed with an extension is refused rather than saved without it: the person typing
    it should know that a text cannot reach an extension (an import keeps the number and says so)."""
    if raw is None or not str(raw).strip():
        raise ValidationError("Enter a phone number.")
    e164 = to_e164(raw, region)
    shown = str(raw).strip()
    if len(shown) > 40:
        shown = shown[:40] + "…"
    if e164 is None:
        raise ValidationError(f"“{shown}” is not a valid phone number.")
    extension = extension_of(raw, region)
    if extension:
        raise ValidationError(
            f"“{shown}” has an extension (x{extension}); a text goes to the number itself, so leave the extension out."
        )
    return e164


def phone_timezone(e164: str | None) -> str | None:
    """An IANA time zone for the number (by its area code), or None when unknown: the best guess
    of ``phone_timezones``, for display (quiet hours use them all).

    Several candidate zones (e.g. US toll-free numbers) resolve to the
    country's most populous zone when it is among them, else the first one.
    """
    zones = phone_timezones(e164)
    return zones[0] if zones else None


@functools.lru_cache(maxsize=4096)
def phone_timezones(e164: str | None) -> tuple[str, ...]:
    """Every IANA zone the number may be in, the best guess (``phone_timezone``) first, the rest in
    name order; () when unknown.

    phonenumbers gives several for an area code that straddles a zone line (Idaho's 208: Boise or
    Los Angeles), for mobiles of large countries (Australia: Perth to Sydney) and for numbers that
    are not geographic. Quiet hours must hold in all of them (``core.compliance.hours``). A North
    American number that is not geographic (toll-free, 5XX, 900) gets the whole numbering plan,
    Guam to American Samoa, 21 hours apart, so that no moment would suit them all: it is taken to
    be in the US or Canada, the countries these numbers serve (the zones of their geographic
    numbers, Hawaii to Newfoundland).
    """
    number = _parse(e164, DEFAULT_REGION)
    if number is None:
        return ()
    candidates = [z for z in pn_timezone.time_zones_for_number(number) if z != UNKNOWN_ZONE and _zone_exists(z)]
    if not candidates:
        return ()
    preferred = PREFERRED_ZONES.get(pn.region_code_for_number(number) or "")
    best = preferred if preferred in candidates else candidates[0]
    if number.country_code == 1 and not pn.is_number_type_geographical(pn.number_type(number), 1):
        candidates = list(_us_and_canada_zones())
    return (best, *sorted(set(candidates) - {best}))


@functools.cache
def _us_and_canada_zones() -> tuple[str, ...]:
    """The zones of US and Canadian geographic numbers, from phonenumbers' prefix table (once)."""
    regions: dict[str, str | None] = {}
    zones: set[str] = set()
    for prefix, names in TIMEZONE_DATA.items():
        if not prefix.startswith("1") or len(prefix) < 4:
            continue
        area = prefix[1:4]
        if area not in regions:  # any valid-looking subscriber number tells the area code's country
            regions[area] = pn.region_code_for_number(
                pn.PhoneNumber(country_code=1, national_number=int(area + "2345678"))
            )
        if regions[area] in ("US", "CA"):
            zones.update(z for z in names if z != UNKNOWN_ZONE and _zone_exists(z))
    return tuple(sorted(zones))


def _zone_exists(name: str) -> bool:
    # The machine's tz database may be older or newer than phonenumbers' list.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=65536)
def format_phone_display(e164: str | None, home_region: str = DEFAULT_REGION) -> str:
    """Readable number: national form at home (``(415) 555-0123``), international otherwise."""
    if not e164:
        return ""
    number = _parse(e164, home_region)
    if number is None:
        return str(e164)  # show what we have rather than nothing
    if pn.region_code_for_number(number) == home_region:
        return pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)
    return pn.format_number(number, pn.PhoneNumberFormat.INTERNATIONAL)


def search_digits(query: str | None) -> str | None:
    """Digits to look for inside stored E.164 digits, or None when the query is a name.

    Rule: a query containing a letter is a name search. Otherwise every
    non-digit is dropped (``+1 (555) 010-0123`` → ``15550100123``) and the
    result must have at least 3 digits. The digits are matched as a
    substring of the stored number without its '+', so a national number
    (``5550100123``), its last digits (``0100123``) and the full form with
    country code 1 (11 digits starting with 1, which E.164 digits contain
    as is) all find the same contact.
    """
    if not query or any(ch.isalpha() for ch in query):
        return None
    # isdecimal + decimal() also read full-width and other script digits.
    digits = "".join(str(unicodedata.decimal(ch)) for ch in query if ch.isdecimal())
    return digits if len(digits) >= MIN_SEARCH_DIGITS else None


def normalize_name(text: str | None) -> str:
    """Lowercase, accent-free, single-spaced text for name search ("José " → "jose")."""
    if not text:
        return ""
    # casefold before decomposing: it can itself produce combining marks (İ → i̇).
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.translate(_UNDECOMPOSABLE_LETTERS).split())
