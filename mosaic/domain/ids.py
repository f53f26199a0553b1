"""Identifiers and secrets, all drawn from `secrets`.

Meeting IDs are what war-dialers guess (the 2020 "Zoombombing" lesson), so they carry 60 bits
of entropy in an alphabet without look-alike characters (no 0/o, 1/l), grouped for reading
aloud: ``kq7w-m3xe-p9hd``. Passcodes are a second factor for a leaked ID, shown to the host once
and stored only as a hash.
"""

from __future__ import annotations

import re
import secrets

# 32 symbols, so each carries exactly 5 bits; a meeting ID of 12 symbols holds 60 bits.
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
MEETING_ID_GROUPS = 3
MEETING_ID_GROUP_LENGTH = 4
MEETING_ID_BITS = 5 * MEETING_ID_GROUPS * MEETING_ID_GROUP_LENGTH
PASSCODE_LENGTH = 8

_MEETING_ID_RE = re.compile(
    rf"^[{ALPHABET}]{{{MEETING_ID_GROUP_LENGTH}}}"
    rf"(-[{ALPHABET}]{{{MEETING_ID_GROUP_LENGTH}}}){{{MEETING_ID_GROUPS - 1}}}$"
)


def new_meeting_id() -> str:
    """A fresh, unguessable, human-friendly meeting ID."""
    groups = [
        "".join(secrets.choice(ALPHABET) for _ in range(MEETING_ID_GROUP_LENGTH))
        for _ in range(MEETING_ID_GROUPS)
    ]
    return "-".join(groups)


def normalize_meeting_id(text: str) -> str | None:
    """Canonical form of a meeting ID as a person may type it, or None if it cannot be one.

    Case, spaces and missing dashes are forgiven; anything else is not a meeting ID.
    """
    compact = re.sub(r"[\s-]", "", text.strip().lower())
    size = MEETING_ID_GROUPS * MEETING_ID_GROUP_LENGTH
    if len(compact) != size:
        return None
    candidate = "-".join(
        compact[i : i + MEETING_ID_GROUP_LENGTH] for i in range(0, size, MEETING_ID_GROUP_LENGTH)
    )
    return candidate if _MEETING_ID_RE.match(candidate) else None


def new_passcode() -> str:
    """A passcode easy to read out and type (40 bits), checked with rate limits on guessing."""
    return "".join(secrets.choice(ALPHABET) for _ in range(PASSCODE_LENGTH))


def new_participant_id() -> str:
    """Identifies one participant in one meeting; not a secret."""
    return "p" + secrets.token_hex(6)


def new_token() -> str:
    """A bearer secret (session cookie, resume token): 256 bits, URL-safe."""
    return secrets.token_urlsafe(32)


def new_recording_id() -> str:
    """A recording's id, which also names its directory: hex only, so never a path trick."""
    return "r" + secrets.token_hex(12)


def is_recording_id(value: str) -> bool:
    return len(value) == 25 and value[0] == "r" and all(c in "0123456789abcdef" for c in value[1:])
