"""Rate limits with growing back-off, for anything an attacker would try many times.

Each key (a client address, a meeting, an account) gets a token bucket for its pace, and each
failure beyond a few doubles a lock-out, so that guessing slows to a crawl while a person who
mistypes once is not punished. Memory stays bounded whatever keys an attacker invents.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class _Entry:
    tokens: float
    updated: float
    failures: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


class Throttle:
    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        free_failures: int = 3,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 300.0,
        forget_failures_after_s: float = 3600.0,
        max_keys: int = 100_000,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._free_failures = free_failures
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._forget_after = forget_failures_after_s
        self._max_keys = max_keys
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _entry(self, key: str, now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = _Entry(tokens=self._burst, updated=now)
            self._entries[key] = entry
            if len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return entry

    def retry_after(self, key: str, now: float) -> float:
        """Take one attempt for ``key``: 0.0 if allowed now, else the seconds to wait."""
        entry = self._entry(key, now)
        if now < entry.blocked_until:
            return entry.blocked_until - now
        if entry.failures and now - entry.last_failure > self._forget_after:
            entry.failures = 0
        entry.tokens = min(self._burst, entry.tokens + (now - entry.updated) * self._rate)
        entry.updated = now
        if entry.tokens < 1.0:
            return (1.0 - entry.tokens) / self._rate
        entry.tokens -= 1.0
        return 0.0

    def failed(self, key: str, now: float) -> None:
        """Record a failed attempt (wrong passcode, unknown meeting, bad password)."""
        entry = self._entry(key, now)
        entry.failures += 1
        entry.last_failure = now
        excess = entry.failures - self._free_failures
        if excess > 0:
            delay = min(self._backoff_max, self._backoff_base * 2 ** (excess - 1))
            entry.blocked_until = max(entry.blocked_until, now + delay)

    def succeeded(self, key: str) -> None:
        """A success forgives one failure, not all: an attacker cannot wash a guessing spree
        clean by interleaving sign-ins to an account of their own."""
        entry = self._entries.get(key)
        if entry is not None and entry.failures:
            entry.failures -= 1

    def __len__(self) -> int:
        return len(self._entries)
