"""The one rule for user text: what comes out is plain, visible and stable; what cannot be
made so is refused with a `TextError`, and nothing else ever escapes."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.domain.text import (
    MAX_CHAT_CHARS,
    MAX_NAME_CHARS,
    MAX_TOPIC_CHARS,
    TextError,
    clean_chat,
    clean_name,
    clean_topic,
    default_topic,
    name_key,
)

# Every code point, lone surrogates included: what a JSON "\ud800" escape can carry.
any_text = st.text(st.characters(exclude_categories=()), max_size=80)
# Text with more of what attackers use: controls, format characters, fillers, marks, spaces.
tricky_text = st.text(
    st.sampled_from(
        list("aZé 李👩\u200d\u200c\t\n\r\x00\x1b\x85\x9b\u00ad\u034f\u0301\u115f\u3164")
        + list("\u2060\ufeff\u202a\u202e\u2066\u2069\u2028\u2800\u3000\U000e0041\U000e007f")
        + ["\ud800", "\U000f0000", "\ufdd0", "\uffff", "\uff21"]
    ),
    max_size=40,
)

HIDDEN = {
    "NUL": "\x00",
    "bell": "\x07",
    "escape": "\x1b",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "C1 CSI": "\x9b",
    "soft hyphen": "\u00ad",
    "zero-width space": "\u200b",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "word joiner": "\u2060",
    "function application": "\u2061",
    "byte order mark": "\ufeff",
    "Hangul filler": "\u3164",
    "Hangul choseong filler": "\u115f",
    "Hangul jungseong filler": "\u1160",
    "halfwidth Hangul filler": "\uffa0",
    "braille blank": "\u2800",
    "combining grapheme joiner": "\u034f",
    "Mongolian vowel separator": "\u180e",
    "tag A": "\U000e0041",
    "cancel tag": "\U000e007f",
    "private use": "\ue000",
    "non-character": "\ufdd0",
    "lone surrogate": "\ud800",
    **{f"bidi U+{code:04X}": chr(code) for code in range(0x202A, 0x202F)},
    **{f"bidi isolate U+{code:04X}": chr(code) for code in range(0x2066, 0x206A)},
}
CLEANERS: dict[str, Callable[[str], str]] = {
    "name": clean_name,
    "topic": clean_topic,
    "chat": clean_chat,
}


@pytest.mark.parametrize("kind", CLEANERS)
@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
def test_hidden_characters_are_refused_everywhere(kind: str, hidden: str) -> None:
    with pytest.raises(TextError):
        CLEANERS[kind](f"Al{hidden}ice")
    with pytest.raises(TextError):
        CLEANERS[kind](f"{hidden}Alice")


@pytest.mark.parametrize(
    "name",
    [
        "José Ñúñez",
        "Zoë O'Brien-Smith",
        "李小龙",
        "محمد علي",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # Persian, with a ZWNJ,
        "Dev 👩\u200d💻",
        "Ἀθηνᾶ",
    ],
)
def test_real_names_of_every_script_pass(name: str) -> None:
    assert clean_name(name) == unicodedata.normalize("NFKC", name)
    assert clean_chat(name) == unicodedata.normalize("NFC", name)


def test_names_are_folded_to_plain_letters_and_single_spaces() -> None:
    assert clean_name("  \uff21\uff4c\uff49\uff43\uff45\u3000 \t Martin ") == "Alice Martin"
    with pytest.raises(TextError):
        clean_name(" \u3000 ")
    with pytest.raises(TextError):
        clean_name("x" * (MAX_NAME_CHARS + 1))


def test_a_joiner_must_join_two_visible_characters() -> None:
    for lonely in ("\u200dAlice", "Alice\u200d", "Al \u200d ice", "Al\u200d\u200dice"):
        with pytest.raises(TextError):
            clean_name(lonely)


def test_zalgo_is_refused_but_accents_are_not() -> None:
    assert clean_name("e\u0301\u0302") == unicodedata.normalize("NFKC", "e\u0301\u0302")
    with pytest.raises(TextError):
        clean_chat("Z" + "\u0336" * 20 + "algo")


def test_chat_keeps_lines_and_folds_the_rest() -> None:
    assert clean_chat("first\r\nsecond\rthird\u2028fourth") == "first\nsecond\nthird\nfourth"
    assert clean_chat("\n\n  a  \t b  \n\n\n\n\n\nc \n\n") == "a    b\n\n\nc"
    with pytest.raises(TextError):
        clean_chat(" \n \n ")
    with pytest.raises(TextError):
        clean_chat("x" * (MAX_CHAT_CHARS + 1))


def test_topics_are_one_line_and_blank_means_the_default() -> None:
    assert clean_topic("  Weekly\nsync\t ") == "Weekly sync"
    assert clean_topic(" \u3000 ") == ""
    assert default_topic("Ann") == "Ann's meeting"
    with pytest.raises(TextError):
        clean_topic("x" * (MAX_TOPIC_CHARS + 1))


@pytest.mark.parametrize(
    "lookalike",
    [
        "alice martin",
        "ALICE-MARTIN",
        "Alice  Martin (host)",
        "\uff21lice Martin",  # full-width A
        "\u0410lice Martin",  # Cyrillic A
        "Alic\u0435 Mart\u0456n",  # Cyrillic e and i
        "A1ice Martin",
        "AIice Martin",  # capital i for l
        "Alice Mártin",
        "Al\u200dice Martin",
    ],
)
def test_name_key_sees_through_lookalikes(lookalike: str) -> None:
    assert name_key(lookalike) == name_key("Alice Martin (Host)") or name_key(
        lookalike
    ) == name_key("Alice Martin")


def test_name_key_keeps_different_people_apart() -> None:
    keys = {name_key(n) for n in ("Alice Martin", "Alice Marten", "Bob", "李小龙", "محمد")}
    assert len(keys) == 5


def _plain(text: str, *, lines: bool) -> None:
    """What every cleaned text is: encodable, nothing hidden, trimmed, no double spaces."""
    text.encode("utf-8")
    assert text == text.strip()
    for char in text:
        category = unicodedata.category(char)
        if char == "\n" and lines:
            continue
        assert category not in ("Cc", "Cs", "Co", "Zl", "Zp"), repr(char)
        assert category != "Cf" or char in "\u200c\u200d", repr(char)
    if not lines:
        assert "  " not in text and "\n" not in text


@settings(max_examples=400)
@given(st.one_of(any_text, tricky_text))
def test_cleaned_text_is_plain_and_cleaning_it_again_changes_nothing(value: str) -> None:
    for kind, clean in CLEANERS.items():
        try:
            cleaned = clean(value)
        except TextError as error:
            # The message is one of a few fixed sentences, never the input.
            assert str(error).isascii() and (len(value) < 4 or value not in str(error))
            continue
        _plain(cleaned, lines=kind == "chat")
        assert clean(cleaned) == cleaned
        if kind == "name":
            assert 1 <= len(cleaned) <= MAX_NAME_CHARS
            assert unicodedata.is_normalized("NFKC", cleaned)
        else:
            assert unicodedata.is_normalized("NFC", cleaned)


@settings(max_examples=300)
@given(tricky_text)
def test_name_key_is_stable_under_what_the_eye_does_not_see(value: str) -> None:
    try:
        name = clean_name(value)
    except TextError:
        return
    assert name_key(name) == name_key(name.upper()) == name_key(f"  {name} ")
    assert name_key(name) == name_key(unicodedata.normalize("NFKC", name.casefold()))
