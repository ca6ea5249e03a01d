"""SMS encoding and segment counts (spec §4)."""

from __future__ import annotations

import pytest

from core.encoding import (
    GSM7_BASIC,
    SegmentInfo,
    describe_segments,
    is_gsm7,
    non_gsm_characters,
    segments_of,
    sms_segments,
    visible_length,
)


def test_empty_text_is_zero_segments():
    assert sms_segments("") == SegmentInfo("GSM-7", 0, 0, 0, 160, 160)
    assert sms_segments(None).segments == 0


def test_160_gsm_characters_fit_one_segment():
    assert sms_segments("a" * 160) == SegmentInfo("GSM-7", 160, 160, 1, 160, 0)


def test_161_gsm_characters_take_two_segments_of_153():
    assert sms_segments("a" * 161) == SegmentInfo("GSM-7", 161, 161, 2, 153, 145)


def test_306_and_307_gsm_characters():
    assert sms_segments("a" * 306).segments == 2
    assert sms_segments("a" * 307).segments == 3


def test_70_ucs2_characters_fit_one_segment():
    assert sms_segments("ç" * 70) == SegmentInfo("UCS-2", 70, 70, 1, 70, 0)


def test_71_ucs2_characters_take_two_segments_of_67():
    assert sms_segments("ç" * 71) == SegmentInfo("UCS-2", 71, 71, 2, 67, 63)


@pytest.mark.parametrize("char", ["€", "{", "}", "[", "]", "~", "\\", "|", "^", "\f"])
def test_extension_characters_count_two_septets(char):
    info = sms_segments(char)
    assert (info.encoding, info.units, info.characters) == ("GSM-7", 2, 1)


def test_80_euro_signs_fill_exactly_one_segment():
    assert sms_segments("€" * 80).segments == 1
    assert sms_segments("€" * 80 + "a").segments == 2


def test_an_escape_pair_is_never_split_across_segments():
    # 152 septets then '€': the pair does not fit in the first part's last
    # septet, so it starts part two.
    info = sms_segments("a" * 152 + "€" + "a" * 10)
    assert info.units == 164
    assert info.segments == 2
    assert info.remaining_in_segment == 153 - 12


def test_each_pair_that_would_straddle_two_parts_leaves_a_unit_unused():
    # Part one ends a septet short (the € would start on its last septet, 152), and part two too
    # (the { on 153 + 2 + 150 = 305): 458 septets take 4 parts, where 458 / 153 would say 3.
    text = "a" * 152 + "€" + "b" * 150 + "{" + "c" * 152
    info = sms_segments(text)
    assert (info.units, info.segments, info.remaining_in_segment) == (458, 4, 153 - 1)
    assert segments_of(text, "GSM-7") == 4
    assert segments_of("a" * 66 + "😀" + "b" * 5, "UCS-2") == 2
    assert segments_of("a" * 65 + "😀" + "b" * 5, "UCS-2") == 2  # the emoji fits at 65-66
    assert segments_of("a" * 159 + "€", "GSM-7") == 2  # 161 septets
    assert segments_of("", "GSM-7") == 0


def test_one_emoji_switches_the_whole_message_to_ucs2():
    info = sms_segments("Hello 👋")
    assert info.encoding == "UCS-2"
    assert info.units == 8  # six letters and a surrogate pair
    assert info.characters == 7
    assert info.per_segment_limit == 70


def test_a_surrogate_pair_is_never_split_across_segments():
    info = sms_segments("a" * 66 + "😀" + "b")
    assert info.units == 69 and info.segments == 1
    split = sms_segments("a" * 66 + "😀" + "b" * 5)
    assert split.units == 73
    assert split.segments == 2
    assert split.remaining_in_segment == 67 - 7  # part two: the whole emoji and five letters


@pytest.mark.parametrize("char", ["`", "ç", "’", "“", "—", "…", "ñ̃", "é́"])
def test_characters_outside_gsm7_force_ucs2(char):
    assert sms_segments("abc" + char).encoding == "UCS-2"


@pytest.mark.parametrize("text", ["Ç", "é", "à", "ß", "¿Qué?", "ΔΩ", "\r\n", "@£$¥"])
def test_gsm7_basic_characters_stay_gsm7(text):
    info = sms_segments(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text)


def test_basic_set_has_the_documented_size():
    # 128 code points minus ESC, with the extension table kept separate.
    assert len(GSM7_BASIC) == 127
    assert is_gsm7("".join(GSM7_BASIC))


def test_non_gsm_characters_lists_the_culprits_once_in_order():
    assert non_gsm_characters("It’s “fine” ’") == ["’", "“", "”"]
    assert non_gsm_characters("plain text {ok}") == []


@pytest.mark.parametrize(
    "text, length",
    [
        ("👍🏽", 1),  # skin tone modifier
        ("👨‍👩‍👧", 1),  # zero-width-joined family
        ("🇺🇸", 1),  # flag
        ("❤️", 1),  # with variation selector
        ("e\u0301", 1),  # e + combining accent
        ("hi 👋", 4),
    ],
)
def test_characters_count_what_a_person_sees(text, length):
    assert visible_length(text) == length


def test_family_emoji_costs_many_units_but_one_character():
    info = sms_segments("👨‍👩‍👧")
    assert info.characters == 1
    assert info.units == 8  # three surrogate pairs and two joiners


def test_describe_segments():
    assert describe_segments(sms_segments("a" * 161)) == "161 characters · 2 segments (GSM-7)"
    assert describe_segments(sms_segments("😀")) == "1 character · 1 segment (UCS-2)"
    assert describe_segments(sms_segments("")) == "0 characters · 160 fit in one SMS"
