"""English and French are complete, and the markup holds no hard-coded text."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

WEB = Path(__file__).resolve().parents[2] / "mosaic" / "web"
LANGUAGES = ("en", "fr")


def strings(language: str) -> dict[str, str]:
    return json.loads((WEB / "i18n" / f"{language}.json").read_text())


class _Markup(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self.text: list[str] = []
        self._stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("data-i18n") and value:
                self.keys.add(value)
        if tag not in ("meta", "link", "input", "br", "img"):
            self._stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._stack and self._stack[-1] == tag:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if data.strip() and not (self._stack and self._stack[-1] in ("script", "style")):
            self.text.append(data.strip())


def markup(name: str) -> _Markup:
    parser = _Markup()
    parser.feed((WEB / name).read_text())
    return parser


def script_keys() -> set[str]:
    keys: set[str] = set()
    for script in (WEB / "js").glob("*.js"):
        keys |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", script.read_text()))
    return keys


def test_every_language_has_every_key() -> None:
    english, french = strings("en"), strings("fr")
    assert set(english) == set(french), set(english) ^ set(french)
    assert all(value.strip() for value in [*english.values(), *french.values()])


@pytest.mark.parametrize("page", ["index.html", "meeting.html", "verify.html"])
def test_pages_use_only_existing_keys_and_no_hard_coded_text(page: str) -> None:
    parsed = markup(page)
    # Only marks that are not words (the close-panel cross) may appear literally.
    assert [text for text in parsed.text if re.search(r"\w", text)] == []
    for language in LANGUAGES:
        assert parsed.keys <= set(strings(language)), parsed.keys - set(strings(language))


def test_scripts_use_only_existing_keys() -> None:
    for language in LANGUAGES:
        missing = script_keys() - set(strings(language))
        assert missing == set()


def test_french_differs_from_english_where_words_are_involved() -> None:
    english, french = strings("en"), strings("fr")
    same = [k for k in english if english[k] == french[k] and re.search(r"[a-z]{4}", english[k])]
    # Brand names and device words shared by both languages only.
    assert set(same) <= {
        "app.name", "controls.people", "people.title", "controls.people_key", "chat.message",
    }  # fmt: skip
