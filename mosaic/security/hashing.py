"""argon2id for the secrets people choose or type: passwords and meeting passcodes.

Hashing costs tens of milliseconds of CPU on purpose, so it runs in a worker thread and never
stalls the event loop that forwards media.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# OWASP's minimum for argon2id (19 MiB, 2 passes): ~15 ms here, slow enough for an offline
# attacker holding the database, cheap enough for a 1,000-person join storm.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified when a meeting does not exist, so that "no such meeting" and "wrong passcode" cost
# the same time and cannot be told apart by a war-dialer.
_DECOY_HASH = _HASHER.hash("decoy passcode for unknown meetings")


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, secret)


def _verify(stored_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


async def verify_secret(stored_hash: str | None, secret: str) -> bool:
    """Check a secret against its hash; with no hash, spend the same time and say no."""
    if stored_hash is None:
        await asyncio.to_thread(_verify, _DECOY_HASH, secret + "\x00")
        return False
    return await asyncio.to_thread(_verify, stored_hash, secret)


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
