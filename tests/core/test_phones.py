"""Phone numbers: E.164 parsing, time zones, display, and search text."""

from __future__ import annotations

import phonenumbers as pn
import pytest

from core.errors import ValidationError
from core.phones import (
    extension_of,
    format_phone_display,
    international_to_e164,
    normalize_name,
    parse_phone,
    phone_timezone,
    phone_timezones,
    search_digits,
    to_e164,
)


@pytest.mark.parametrize(
    "raw",
    [
        "+14155550123",
        "(415) 555-0123",
        "415-555-0123",
        "415.555.0123",
        "4155550123",
        "1 415 555 0123",
        "  +1 (415) 555-0123  ",
        "whatsapp:+14155550123",
        "WhatsApp:+14155550123",
        "14155550123",  # Meta wa_id: country code, no '+'
        "＋１４１５５５５０１２３",  # full-width digits from a phone keyboard
    ],
)
def test_to_e164_accepts_the_ways_a_us_number_arrives(raw):
    assert to_e164(raw) == "+14155550123"


def test_to_e164_reads_meta_wa_id_for_other_countries():
    assert to_e164("447400123456") == "+447400123456"
    assert to_e164("whatsapp:+447400123456") == "+447400123456"


def test_to_e164_uses_the_region_for_national_numbers():
    assert to_e164("07400 123456", region="GB") == "+447400123456"
    assert to_e164("07400 123456") is None  # not a US number


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "   ",
        "hello",
        "555-0100",
        "+15550100123",
        "123",
        "+1415555012345678",
        "whatsapp:",
        "+",
    ],
)
def test_to_e164_rejects_what_is_not_a_valid_number(raw):
    assert to_e164(raw) is None


@pytest.mark.parametrize(
    "raw, e164, region",
    [
        ("6834002", "+6834002", "NU"),  # 7 digits: Niue
        ("29051234", "+29051234", "SH"),  # 8: Saint Helena
        ("298211234", "+298211234", "FO"),  # 9: Faroe Islands
        ("6598765432", "+6598765432", "SG"),  # 10: also a valid US number (+1 659) read nationally
        ("6581234567", "+6581234567", "SG"),  # 10: not a valid US number
        ("4799887766", "+4799887766", "NO"),
        ("4520123456", "+4520123456", "DK"),
        ("3546123456", "+3546123456", "IS"),
        ("14155550123", "+14155550123", "US"),  # 11
        ("85291234567", "+85291234567", "HK"),
        ("447400123456", "+447400123456", "GB"),  # 12
        ("919876543210", "+919876543210", "IN"),
        ("5511912345678", "+5511912345678", "BR"),  # 13
        ("8613800138000", "+8613800138000", "CN"),
        ("43664123456789", "+43664123456789", "AT"),  # 14
        ("+6598765432", "+6598765432", "SG"),  # a '+' already there changes nothing
        (" 6598765432 ", "+6598765432", "SG"),
    ],
)
def test_a_number_that_always_carries_its_country_code_is_read_as_international_at_every_length(raw, e164, region):
    """Meta's from / wa_id: the country code is always there, never the '+' (spec §2)."""
    assert international_to_e164(raw) == e164
    assert pn.region_code_for_number(pn.parse(e164)) == region


@pytest.mark.parametrize("raw", [None, "", "99", "4155550123", "+", "whatsapp:", "abc"])
def test_an_international_number_that_is_not_valid_is_none(raw):
    # "4155550123" is a US number written nationally; as an international one it is +41
    # (Switzerland), and not a valid Swiss number.
    assert international_to_e164(raw) is None


def test_parse_phone_returns_e164():
    assert parse_phone("(415) 555-0123") == "+14155550123"


def test_parse_phone_explains_an_invalid_number():
    with pytest.raises(ValidationError) as caught:
        parse_phone("555-0100")
    assert str(caught.value) == "“555-0100” is not a valid phone number."


def test_parse_phone_asks_for_a_number_when_empty():
    with pytest.raises(ValidationError, match="Enter a phone number."):
        parse_phone("   ")


def test_parse_phone_shortens_absurd_input_in_the_message():
    with pytest.raises(ValidationError) as caught:
        parse_phone("x" * 500)
    assert len(str(caught.value)) < 80
    assert "…" in str(caught.value)


@pytest.mark.parametrize(
    "e164, zone",
    [
        ("+14155550123", "America/Los_Angeles"),
        ("+12125550123", "America/New_York"),
        ("+13055550123", "America/New_York"),  # Miami
        ("+16155550123", "America/Chicago"),
        ("+13035550123", "America/Denver"),
        ("+18085550123", "Pacific/Honolulu"),
        ("+4915112345678", "Europe/Berlin"),
    ],
)
def test_phone_timezone_follows_the_area_code(e164, zone):
    assert phone_timezone(e164) == zone


def test_phone_timezone_prefers_the_main_zone_when_several_match():
    # phonenumbers lists Guernsey, Isle of Man and Jersey before London.
    assert phone_timezone("+447400123456") == "Europe/London"
    # A toll-free number could be anywhere in North America.
    assert phone_timezone("+18005550100") == "America/New_York"


def test_phone_timezone_falls_back_to_the_first_candidate():
    # North Dakota's 701 is split between Denver and a Central zone; no preference applies.
    assert phone_timezone("+17015550123") == "America/Denver"


@pytest.mark.parametrize(
    "e164, zones",
    [
        ("+14155550123", ("America/Los_Angeles",)),
        ("+12083201234", ("America/Boise", "America/Los_Angeles")),  # Idaho's 208-320
        ("+17015550123", ("America/Denver", "America/North_Dakota/Center")),
        (
            "+61412345678",  # an Australian mobile: the best guess first, then the rest by name
            (
                "Australia/Sydney",
                "Australia/Adelaide",
                "Australia/Brisbane",
                "Australia/Eucla",
                "Australia/Lord_Howe",
                "Australia/Perth",
                "Indian/Christmas",
                "Indian/Cocos",
            ),
        ),
        (None, ()),
        ("+15550100123", ()),
    ],
)
def test_phone_timezones_lists_every_zone_the_number_may_be_in(e164, zones):
    assert phone_timezones(e164) == zones


def test_a_toll_free_number_may_be_anywhere_in_the_us_or_canada_not_guam_or_samoa():
    assert phone_timezones("+18005550100") == (
        "America/New_York",
        "America/Adak",
        "America/Anchorage",
        "America/Boise",
        "America/Chicago",
        "America/Denver",
        "America/Edmonton",
        "America/Fort_Nelson",
        "America/Halifax",
        "America/Juneau",
        "America/Los_Angeles",
        "America/North_Dakota/Center",
        "America/Phoenix",
        "America/Puerto_Rico",
        "America/Regina",
        "America/St_Johns",
        "America/Toronto",
        "America/Vancouver",
        "America/Winnipeg",
        "Pacific/Honolulu",
    )


@pytest.mark.parametrize("e164", [None, "", "+15550100123", "not a number"])
def test_phone_timezone_is_none_when_unknown(e164):
    assert phone_timezone(e164) is None


def test_format_phone_display_is_national_at_home_and_international_abroad():
    assert format_phone_display("+14155550123") == "(415) 555-0123"
    assert format_phone_display("+447400123456") == "+44 7400 123456"
    assert format_phone_display("+447400123456", home_region="GB") == "07400 123456"


def test_format_phone_display_shows_unparseable_values_unchanged():
    assert format_phone_display("+15550100123") == "+15550100123"
    assert format_phone_display(None) == ""


@pytest.mark.parametrize(
    "query, digits",
    [
        ("+1 555 010 0123", "15550100123"),
        ("(555) 010-0123", "5550100123"),
        ("5550100123", "5550100123"),
        ("0100123", "0100123"),
        ("555-0100", "5550100"),
        ("  123 ", "123"),
        ("１２３４", "1234"),  # full-width digits
    ],
)
def test_search_digits_keeps_only_the_digits(query, digits):
    assert search_digits(query) == digits


@pytest.mark.parametrize(
    "stored, query",
    [
        ("+15550100123", "+1 555 010 0123"),
        ("+15550100123", "(555) 010-0123"),
        ("+15550100123", "0100123"),
        ("+15550100123", "555-0100"),
    ],
)
def test_search_digits_are_a_substring_of_the_stored_digits(stored, query):
    assert search_digits(query) in stored.lstrip("+")


@pytest.mark.parametrize("query", ["", None, "12", "+1", "José", "Suite 55", "555 main st", "-- ()"])
def test_search_digits_is_none_for_names_and_short_queries(query):
    assert search_digits(query) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("José", "jose"),
        ("  MARÍA   del  Carmen ", "maria del carmen"),
        ("Zoë\tÅngström", "zoe angstrom"),
        ("Søren Łukasz", "soren lukasz"),
        ("Straße", "strasse"),
        ("İlkay", "ilkay"),
        ("Ｊｏｓé", "jose"),  # full-width letters
        ("O'Brien", "o'brien"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_name(text, expected):
    assert normalize_name(text) == expected


def test_normalized_query_finds_the_normalized_name():
    assert normalize_name("jose") in normalize_name("María José Núñez")
    assert normalize_name("NUÑEZ") in normalize_name("María José Núñez")


@pytest.mark.parametrize("raw", ["(415) 555-0123 x12", "415-555-0123 ext. 12", "+1 415 555 0123 #12"])
def test_parse_phone_refuses_an_extension_it_would_drop(raw):
    with pytest.raises(ValidationError) as caught:
        parse_phone(raw)
    assert str(caught.value) == (
        f"“{raw}” has an extension (x12); a text goes to the number itself, so leave the extension out."
    )


def test_a_number_without_an_extension_has_none():
    assert [extension_of(raw) for raw in ("(415) 555-0123", "+44 20 7946 0018", "x12", None)] == [None] * 4
