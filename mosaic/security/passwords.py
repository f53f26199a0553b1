"""Which passwords are refused, as NIST SP 800-63B (section 3.1.1.2) recommends.

No composition rules (they make people write ``Password1!``), a length floor, no ceiling below
256, and a check against what attackers try first: the most common leaked passwords, a
character repeated or a run of the keyboard, and the user's own name or e-mail address. A
password is judged after folding case and the usual letter-for-digit swaps (``p4ssw0rd``), and
after stripping what people bolt onto a common word to pass a filter (``password2024!``).

The list ships with the package (``common_passwords.txt``, from zxcvbn's MIT-licensed
frequency list; its header says how it was made), so nothing is fetched at run time.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cache
from itertools import pairwise
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256
# What may be bolted onto a common or personal word and still leave the password guessable:
# an attacker's rules add up to this many digits and symbols around each dictionary entry.
_AFFIX_LIMIT = 6
_LEET = str.maketrans("@48310$5!7+", "aabeiossitt")
_KEYBOARD_RUNS = (
    "qwertyuiopasdfghjklzxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "1234567890",
)
_LIST = Path(__file__).with_name("common_passwords.txt")


class Weakness(StrEnum):
    """Why a password is refused; the web client shows a sentence for each."""

    TOO_SHORT = "too_short"
    REPETITIVE = "repetitive"
    SEQUENCE = "sequence"
    COMMON = "common"
    PERSONAL = "personal"


MESSAGES = {
    Weakness.TOO_SHORT: f"use at least {MIN_LENGTH} characters",
    Weakness.REPETITIVE: "this password repeats the same characters",
    Weakness.SEQUENCE: "this password is a run of letters, digits or keyboard keys",
    Weakness.COMMON: "this password is among the most common ones; attackers try those first",
    Weakness.PERSONAL: "this password is made of your name or e-mail address",
}


@cache
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def weakness(password: str, *, email: str = "", name: str = "") -> Weakness | None:
    """The first reason to refuse ``password`` for this person, or None if it is acceptable."""
    if len(password) < MIN_LENGTH:
        return Weakness.TOO_SHORT
    plain = re.sub(r"\s+", "", password.lower())
    forms = (plain, plain.translate(_LEET))
    if any(_repetitive(form) for form in forms):
        return Weakness.REPETITIVE
    if _sequence(plain):
        return Weakness.SEQUENCE
    if _common(plain):
        return Weakness.COMMON
    if any(_personal(form, email, name) for form in forms):
        return Weakness.PERSONAL
    return None


def _repetitive(text: str) -> bool:
    """Two or fewer distinct characters, or a short unit said again and again (``abcabcabc``)."""
    if len(set(text)) <= 2:
        return True
    return any((text[:unit] * (len(text) // unit + 1))[: len(text)] == text for unit in range(1, 5))


def _sequence(text: str) -> bool:
    """Each character one step from the last (``abcdefghij``, ``9876543210``), or a stretch of a
    keyboard row, forwards or backwards, possibly wrapping round and starting again."""
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    if steps in ({1}, {-1}):
        return True
    for run in _KEYBOARD_RUNS:
        for row in (run, run[::-1]):
            circle = row * (len(text) // len(row) + 2)
            if text in circle:
                return True
    return False


def _strip_affixes(text: str) -> tuple[str, int]:
    # Letters that stand for letters (p4ssw0rd) stay inside the core; only the ends are cut.
    core = re.sub(r"^[^a-z]+|[^a-z]+$", "", text)
    return core, len(text) - len(core)


def _common(plain: str) -> bool:
    """On the list as typed or de-leeted, or a listed word with a few digits or symbols around
    it (``password2024!``, ``!!dr4gon99``)."""
    listed = common_passwords()
    core, stripped = _strip_affixes(plain)
    candidates = {plain, plain.translate(_LEET)}
    if core and stripped <= _AFFIX_LIMIT:
        candidates |= {core, core.translate(_LEET)}
    return not candidates.isdisjoint(listed)


def _personal(text: str, email: str, name: str) -> bool:
    """What is left once the person's own words are taken out is too little to guess at."""
    local, _, domain = email.lower().partition("@")
    words = re.split(r"[^a-z0-9]+", f"{local} {name.lower()} {domain.rsplit('.', 1)[0]} mosaic")
    words = sorted({w for w in words if len(w) >= 3}, key=len, reverse=True)
    rest = text
    for word in words:
        rest = rest.replace(word, "").replace(word.translate(_LEET), "")
    if rest == text:
        return False
    return len(re.sub(r"[^a-z]", "", rest)) < 4 and len(rest) <= _AFFIX_LIMIT
