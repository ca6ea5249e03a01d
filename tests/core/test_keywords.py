"""Rule 2: opt-out, opt-in and help keywords, and flagged opt-out wording."""

from __future__ import annotations

import pytest

from core.compliance.keywords import (
    HELP_KEYWORDS,
    OPT_IN_KEYWORDS,
    OPT_OUT_KEYWORDS,
    KeywordResult,
    classify,
    exact_form,
)

OPT_OUT_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "STOP ALL", "OPT OUT"]


def variations(word: str) -> list[str]:
    """The ways people actually type a keyword."""
    return [
        word,
        word.lower(),
        word.title(),
        f"  {word}  ",
        f"{word}.",
        f"{word}!!",
        f"\n{word.lower()}\n",
        f"“{word}”",
        f"{word} 🛑",
    ]


def test_the_keyword_lists_are_those_of_rule_2():
    assert OPT_OUT_KEYWORDS == set(OPT_OUT_WORDS)
    assert OPT_IN_KEYWORDS == {"START", "UNSTOP", "YES"}
    assert HELP_KEYWORDS == {"HELP", "INFO"}


@pytest.mark.parametrize("word", OPT_OUT_WORDS)
def test_every_opt_out_keyword_opts_out_in_any_case_and_spacing(word):
    for body in variations(word):
        assert classify(body) == KeywordResult("opt_out", word), body


@pytest.mark.parametrize("word", ["START", "UNSTOP", "YES"])
def test_every_opt_in_keyword_opts_in(word):
    for body in variations(word):
        assert classify(body) == KeywordResult("opt_in", word), body


@pytest.mark.parametrize("word", ["HELP", "INFO"])
def test_help_keywords_ask_for_help(word):
    for body in variations(word):
        assert classify(body) == KeywordResult("help", word), body


@pytest.mark.parametrize(
    "body, keyword",
    [
        ("stop   all", "STOP ALL"),
        ("Stop\tAll", "STOP ALL"),
        ("opt-out", "OPT OUT"),
        ("Opt_Out", "OPT OUT"),
        ("ＳＴＯＰ", "STOP"),  # full-width letters from some keyboards
        ("¡STOP!", "STOP"),
    ],
)
def test_spacing_hyphens_and_width_do_not_hide_a_keyword(body, keyword):
    assert classify(body) == KeywordResult("opt_out", keyword)


def test_exact_form_normalises_edges_only():
    assert exact_form("  stop!! ") == "STOP"
    assert exact_form("stop it") == "STOP IT"
    assert exact_form("...") == ""


@pytest.mark.parametrize(
    "body",
    [
        "STOP PLEASE",
        "stop please",
        "Please stop",
        "stop it",
        "STOP STOP STOP",
        "Stop. Thank you.",
        "unsubscribe me",
        "Unsubscribe me please!",
        "please stop texting me",
        "Stop sending me these messages",
        "stop the texts",
        "Can you stop messaging me?",
        "STOP CONTACTING ME",
        "take me off your list",
        "Please remove me from your list",
        "remove me",
        "Remove my number",
        "don't text me",
        "Don’t text me again",  # curly apostrophe
        "dont message me",
        "Do not contact me",
        "no more messages",
        "No more texts please",
        "I want to opt out",
        "opting-out of this",
        "how do I unsubscribe",
        "Cancel my subscription",
        "cancel these texts",
        "leave me alone",
        "quit texting me",
        "no me envíes más",
        "No me manden más mensajes",
        "baja",
        "Baja por favor",
        "quiero darme de baja",
        "no quiero recibir más mensajes",
        "deja de enviarme mensajes",
        "ALTO",
    ],
)
def test_opt_out_wording_is_flagged_not_acted_on(body):
    result = classify(body)
    assert result.kind == "possible_opt_out", body
    assert result.keyword


def test_stop_please_is_not_an_exact_keyword():
    assert classify("STOP PLEASE") == KeywordResult("possible_opt_out", "STOP")


@pytest.mark.parametrize(
    "body",
    [
        "I can't stop smiling, thanks!",
        "Please stop by the office and text me when you arrive",
        "Where is the bus stop?",
        "I need to cancel my appointment",
        "Can I cancel tomorrow and come Friday?",
        "The end of the street, next to the pharmacy",
        "Yes please",
        "yes I'll be there",
        "Help me find the address",
        "Can you send me the bill?",
        "Can you take me at 3pm?",
        "Start time is 9?",
        "Thanks, see you Monday",
        "Information about whitening please",
        "Stop",  # exact keyword, not merely a flag
        "",
        "   ",
        None,
    ],
)
def test_ordinary_messages_are_not_flagged(body):
    assert classify(body).kind != "possible_opt_out", body


@pytest.mark.parametrize("body", ["Yes please", "I need help with my booking", "info on prices?", "Started"])
def test_keywords_inside_sentences_do_nothing(body):
    assert classify(body) == KeywordResult(None, None)


def test_a_very_long_flagged_phrase_keeps_a_short_keyword():
    body = "please stop " + "really " * 3 + "texting me " + "x" * 500
    result = classify(body)
    assert result.kind == "possible_opt_out"
    assert len(result.keyword) <= 40
