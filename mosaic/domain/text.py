"""One rule for the text people type: display names, account names, chat, meeting topics.

What others see must be what it looks like. So every piece of user text is normalised the same
way (Unicode NFC; NFKC for names, as RFC 8265's nickname profile does, so that full-width or
stylised letters become the plain ones), its whitespace made plain, collapsed and trimmed, and
it is refused when it holds a character that is invisible or rearranges what is shown:

- controls (C0, DEL, C1), format characters (zero-width spaces, U+2060 word joiner, U+FEFF,
  the bidi embeddings, overrides and isolates U+202A-202E and U+2066-2069, the tag characters
  U+E0000-E007F, soft hyphens), lone surrogates, private-use and non-characters;
- letters and symbols that draw nothing: the Hangul fillers (U+115F, U+1160, U+3164,
  U+FFA0), the braille blank U+2800, the combining grapheme joiner U+034F, and a few more;
- more than `MAX_COMBINING_RUN` combining marks on one character ("Zalgo" text drawn over
  its neighbours).

A zero-width joiner or non-joiner stays allowed between two visible characters: Persian and
Indic spellings and emoji sequences (👩‍💻) need them. Only chat keeps line breaks.

`name_key` is the comparison form of a name (case, width, accents, spacing, punctuation and
the common Cyrillic and Greek look-alikes of Latin letters folded away), so that a guest
cannot take a host's name by changing what the eye does not see. It is a small hand-made
subset of Unicode's confusables (UTS #39), aimed at the letters that impersonate Latin ones.

Errors are `TextError` (a ValueError, so pydantic turns it into a validation error) with a
fixed message: never the input, which may be what cannot be encoded.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_CHARS = 64
MAX_TOPIC_CHARS = 200
MAX_CHAT_CHARS = 2000
# An end-to-end encrypted chat message (docs/e2ee.md): "e2ee:" and base64url of a 12-byte IV,
# the ciphertext of up to MAX_CHAT_CHARS characters (4 UTF-8 bytes each at most) and its tag.
E2EE_CHAT_PREFIX = "e2ee:"
MAX_E2EE_CHAT_CHARS = len(E2EE_CHAT_PREFIX) + (12 + 4 * MAX_CHAT_CHARS + 16 + 2) * 4 // 3
_CIPHERTEXT = re.compile(r"e2ee:[A-Za-z0-9_-]{38,}")
MAX_COMBINING_RUN = 8
MAX_BLANK_LINES = 2

# Characters outside the C* categories that draw nothing, or nothing of their own.
_INVISIBLE = frozenset(
    "\u034f"  # combining grapheme joiner
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers
    "\u17b4\u17b5"  # Khmer inherent vowels
    "\u180b\u180c\u180d\u180f"  # Mongolian variation selectors
    "\u2800"  # braille pattern blank
    "\U0001d159"  # musical symbol null notehead
)
_JOINERS = frozenset("\u200c\u200d")
_LINE_BREAKS = re.compile("\r\n|[\r\u2028\u2029]")


class TextError(ValueError):
    """User text that is refused; the message names the rule, never the text."""


def clean_name(value: str) -> str:
    """A display or account name: NFKC, one line, plain single spaces, 1-64 characters."""
    value = _single_line(unicodedata.normalize("NFKC", _encodable(value)))
    if not value:
        raise TextError("name is empty")
    if len(value) > MAX_NAME_CHARS:
        raise TextError(f"name is longer than {MAX_NAME_CHARS} characters")
    return value


def clean_topic(value: str) -> str:
    """A meeting topic: NFC, one line, plain single spaces; "" when blank (the caller then
    uses `default_topic`, the same at creation and when changed)."""
    value = _single_line(unicodedata.normalize("NFC", _encodable(value)))
    if len(value) > MAX_TOPIC_CHARS:
        raise TextError(f"topic is longer than {MAX_TOPIC_CHARS} characters")
    return value


def default_topic(host_name: str) -> str:
    return clean_topic(f"{host_name}'s meeting")[:MAX_TOPIC_CHARS]


def clean_chat(value: str) -> str:
    """A chat message (or a report's reason): NFC, line breaks kept (at most two blank lines in
    a row), tabs and other spaces as plain spaces, trailing spaces of each line and blank ends
    trimmed."""
    value = unicodedata.normalize("NFC", _encodable(value))
    value = _LINE_BREAKS.sub("\n", value)
    value = "".join(" " if char == "\t" or _is_space(char) else char for char in value)
    _refuse_hidden(value, keep="\n")
    lines = [line.rstrip(" ") for line in value.split("\n")]
    kept: list[str] = []
    blank = 0
    for line in lines:
        blank = blank + 1 if not line else 0
        if blank <= MAX_BLANK_LINES:
            kept.append(line)
    value = "\n".join(kept).strip("\n ")
    if not value.strip():
        raise TextError("message is empty")
    if len(value) > MAX_CHAT_CHARS:
        raise TextError(f"message is longer than {MAX_CHAT_CHARS} characters")
    return value


def is_ciphertext(value: str) -> bool:
    """Whether chat text is an encrypted message ("e2ee:" and base64url, nothing else)."""
    return _CIPHERTEXT.fullmatch(value) is not None


def clean_chat_or_ciphertext(value: str) -> str:
    """Chat as sent: an encrypted message is relayed as it is (the server cannot read it, and
    base64url holds nothing to clean), up to `MAX_E2EE_CHAT_CHARS`; anything else is
    `clean_chat`'s."""
    if is_ciphertext(value):
        if len(value) > MAX_E2EE_CHAT_CHARS:
            raise TextError("encrypted message is too long")
        return value
    return clean_chat(value)


def name_key(name: str) -> str:
    """The form under which two names count as the same person's (see the module docstring).

    Only letters and digits count: "Alice (Host)" in full-width letters, "alice host",
    "ALICE-HOST", and "Alice Host" spelt with a Cyrillic A all give the same key."""
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    kept = []
    for char in folded:
        if unicodedata.category(char)[0] not in "LN":
            continue  # spaces, punctuation, joiners, combining accents
        kept.append(char)
    return "".join(kept).translate(_LOOKALIKES).translate(_DIGIT_LOOKALIKES)


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise TextError("text holds a lone surrogate") from None
    return value


def _single_line(value: str) -> str:
    """Every kind of space or line break becomes one plain space; hidden characters are
    refused; the result is trimmed."""
    value = _LINE_BREAKS.sub(" ", value)
    value = "".join(" " if char in "\t\n" or _is_space(char) else char for char in value)
    _refuse_hidden(value, keep="")
    return " ".join(part for part in value.split(" ") if part)


def _is_space(char: str) -> bool:
    return unicodedata.category(char) == "Zs"


def _refuse_hidden(value: str, keep: str) -> None:
    combining = 0
    previous = ""
    for index, char in enumerate(value):
        if char in _JOINERS:
            following = value[index + 1 : index + 2]
            if not (_visible(previous) and _visible(following)):
                raise TextError("text contains invisible or control characters")
        elif char not in keep and _hidden(char):
            raise TextError("text contains invisible or control characters")
        if unicodedata.category(char) in ("Mn", "Me"):
            combining += 1
            if combining > MAX_COMBINING_RUN:
                raise TextError("text stacks too many combining marks")
        else:
            combining = 0
        previous = char


def _hidden(char: str) -> bool:
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
        return True
    code = ord(char)
    if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:  # non-characters
        return True
    return char in _INVISIBLE


def _visible(char: str) -> bool:
    return bool(char) and not char.isspace() and not _hidden(char) and char not in _JOINERS


# Letters of other scripts that are drawn like Latin ones (after casefolding): Cyrillic,
# Greek, and Latin letters that pass for others; then digits that pass for letters.
_LOOKALIKES = str.maketrans(
    "авеёзіїјкмнопрстухѕԁԛԝһӏьгαβγεηικνορτυχωϲϳıɩłŀøđħſ",
    "abee3iijkmhonpctyxsdqwhlbrabyenikvoptuxwcjiillodhs",
)
_DIGIT_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "i": "l", "3": "e", "5": "s"})
