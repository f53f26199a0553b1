"""Limits for anything an attacker would try many times: passcodes, passwords, meeting IDs.

Two kinds of key call for opposite answers, so there are two kinds of limit:

* A **source** (one IPv4 address, one IPv6 /64: `source_key`) is what an attacker spends.
  `Throttle` refuses it *up front*: a pace (token bucket) and, after a few free failures, a
  back-off that doubles with each further one. Refusing a source costs only that source.
* A **target** (a meeting, an account) is what an attacker aims at, and what its rightful
  people use too. Refusing a target up front is a lock-out anyone can trigger: 60 wrong
  passcodes from one address used to shut a meeting's door to everyone for a minute. `Gate`
  therefore never refuses; it caps the verifications in progress on a target (serving the
  cleanest sources first), and once a target sees many failures it *delays the answer to a
  wrong attempt* while holding that verification slot. The right passcode or password from
  another address still gets through after at most one such delay, whereas the guessing
  rate on the target falls to (slots ÷ delay) whatever the attacker's number of addresses.

**Reserve, then confirm.** Checking a limit and recording the failure after an argon2
verification lets every concurrent guess pass the check before the first one is recorded (60
verified where 5 were allowed). Both limits therefore count an attempt as a failure *before*
the costly check, atomically (no await between the check and the count); a success releases
it. An attempt that ends in any other way (an exception, a cancelled task, a client gone)
stays counted.

Memory stays bounded whatever keys an attacker invents.

**One process or a cluster, one rule.** The classes here keep their counts in this process's
memory. In cluster mode (``--redis-url``) every worker must count the same attempts, or an
attacker who spreads guesses over workers gets a budget per worker: `mosaic.cluster.throttle`
keeps the same counts in Redis, with the same rules, behind the same (async) interface, and
`Limits` is what makes either kind (`Limits` here, `RedisLimits` there).
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import ipaddress
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol


def source_key(address: str) -> str:
    """The unit an attacker must pay for: an IPv4 address, or an IPv6 /64.

    Any home or cloud customer gets a whole /64 (2⁶⁴ addresses), so throttling IPv6 addresses
    one by one would give each of them unlimited budgets. An IPv4-mapped IPv6 address
    (``::ffff:192.0.2.1``, from a dual-stack socket) is the IPv4 address it maps.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Refused(Exception):
    """The source must wait ``retry_after`` seconds before its next attempt."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.1f} s")
        self.retry_after = max(retry_after, 0.001)


# -- per source: refused up front ------------------------------------------------------------


@dataclass(slots=True)
class _Entry:
    tokens: float
    updated: float
    failures: int = 0
    pending: int = 0  # reservations not resolved yet: failures until proven otherwise
    waiting: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0
    changed: asyncio.Event | None = None  # set when a reservation resolves

    def wake(self) -> None:
        if self.changed is not None:
            self.changed.set()
            self.changed = None


class Reservation:
    """One attempt of a source, counted as a failure until `succeeded` says otherwise.

    Use it as an async context manager: leaving it unresolved (an exception, a cancelled
    task) confirms the failure, so a guesser cannot escape the count by hanging up mid-check.
    Works with any throttle of the `Throttle` interface (in memory or in Redis).
    """

    __slots__ = ("_open", "_throttle", "key", "rank")

    def __init__(self, throttle: Throttle, key: str, rank: int) -> None:
        self._throttle = throttle
        self.key = key
        # Failures of this source (in flight included) when it tried: a `Gate` serves lower
        # ranks first, so a source with a clean history is not queued behind a guesser.
        self.rank = rank
        self._open = True

    async def succeeded(self, *, forgive: bool = False) -> None:
        """The check passed: the reservation is released (and, with ``forgive``, one
        earlier failure is forgiven too)."""
        if self._open:
            self._open = False
            await self._throttle.release(self.key, forgive=forgive)

    async def failed(self) -> None:
        if self._open:
            self._open = False
            await self._throttle.confirm_failure(self.key)

    async def __aenter__(self) -> Reservation:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Shielded: a cancelled attempt must still be counted (in Redis that is one more
        # command, which the cancellation would otherwise interrupt).
        await asyncio.shield(self.failed())


class Throttle:
    """Per-source limit: a pace, a few free failures, then a doubling wait, refused up front.

    ``free_failures`` attempts may fail without any wait; after that, the attempt following
    the k-th failure waits ``backoff_base_s · 2^(k - free_failures)`` (capped) after it. Attempts
    in flight count as failures: once they would exhaust the free ones, a further attempt
    waits (a little while, see `acquire`) for them to resolve instead of being verified
    alongside them; so at most ``free_failures`` wrong guesses are ever verified before the
    first wait, however many arrive at once.

    Every method is async because the cluster's throttle (`mosaic.cluster.throttle`) asks
    Redis; this one never awaits between a check and its count, so it stays atomic. ``now``
    defaults to ``clock()``; tests pass their own.
    """

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
        max_waiting_per_key: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._free_failures = free_failures
        self._backoff_base = backoff_base_s
        self._backoff_max = backoff_max_s
        self._forget_after = forget_failures_after_s
        self._max_keys = max_keys
        self._max_waiting = max_waiting_per_key
        self._clock = clock
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
        if entry.failures and not entry.pending and now - entry.last_failure > self._forget_after:
            entry.failures = 0
        return entry

    def _backoff(self, failures: int) -> float:
        """The wait after ``failures`` failures."""
        excess = failures - self._free_failures
        if excess < 0:
            return 0.0
        return min(self._backoff_max, self._backoff_base * 2.0**excess)

    def _verdict(self, entry: _Entry, now: float) -> tuple[float, bool]:
        """(seconds to wait, whether that is only because of attempts still in flight)."""
        if now < entry.blocked_until:
            return entry.blocked_until - now, False
        if entry.pending:
            wait = self._backoff(entry.failures + entry.pending)
            if wait > 0:
                return wait, True
        entry.tokens = min(self._burst, entry.tokens + max(0.0, now - entry.updated) * self._rate)
        entry.updated = now
        if entry.tokens < 1.0:
            return (1.0 - entry.tokens) / self._rate, False
        return 0.0, False

    async def reserve(self, key: str, now: float | None = None) -> float:
        """Take one attempt for ``key`` and count it as a failure until `release`: 0.0 if
        taken, else the seconds to wait (nothing is taken then)."""
        now = self._clock() if now is None else now
        entry = self._entry(key, now)
        wait, _ = self._verdict(entry, now)
        if wait > 0:
            return wait
        entry.tokens -= 1.0
        entry.pending += 1
        return 0.0

    async def acquire(self, key: str, *, patience_s: float = 5.0) -> Reservation:
        """A `Reservation` for one attempt, or `Refused`.

        When only attempts in flight stand in the way (a class joining at once from one
        school address), wait up to ``patience_s`` for them to resolve: right ones release
        their reservations and let the next ones through; wrong ones start the back-off,
        which then refuses. A bounded number may wait per key.
        """
        deadline = time.monotonic() + patience_s
        while True:
            now = self._clock()
            entry = self._entry(key, now)
            wait, busy = self._verdict(entry, now)
            if wait <= 0:
                entry.tokens -= 1.0
                entry.pending += 1
                return Reservation(self, key, rank=entry.failures + entry.pending - 1)
            left = deadline - time.monotonic()
            if not busy or left <= 0 or entry.waiting >= self._max_waiting:
                raise Refused(wait)
            if entry.changed is None:
                entry.changed = asyncio.Event()
            changed = entry.changed
            entry.waiting += 1
            try:
                async with asyncio.timeout(left):
                    await changed.wait()
            except TimeoutError:
                pass
            finally:
                entry.waiting -= 1

    async def confirm_failure(self, key: str, now: float | None = None) -> None:
        """A reserved attempt failed: it becomes a failure, and the back-off applies."""
        now = self._clock() if now is None else now
        entry = self._entry(key, now)
        entry.pending = max(0, entry.pending - 1)
        self._record_failure(entry, now)
        entry.wake()

    async def release(self, key: str, *, forgive: bool = False) -> None:
        """A reserved attempt succeeded."""
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.pending = max(0, entry.pending - 1)
        if forgive and entry.failures:
            entry.failures -= 1
        entry.wake()

    def _record_failure(self, entry: _Entry, now: float) -> None:
        entry.failures += 1
        entry.last_failure = now
        delay = self._backoff(entry.failures)
        if delay > 0:
            entry.blocked_until = max(entry.blocked_until, now + delay)

    # For limits with no costly check behind them (a pace, e.g. sign-ups per address).

    async def retry_after(self, key: str, now: float | None = None) -> float:
        """Take one attempt for ``key`` (nothing reserved): 0.0 if allowed now, else the
        seconds to wait."""
        now = self._clock() if now is None else now
        entry = self._entry(key, now)
        wait, _ = self._verdict(entry, now)
        if wait > 0:
            return wait
        entry.tokens -= 1.0
        return 0.0

    async def failed(self, key: str, now: float | None = None) -> None:
        """Record a failed attempt that was not reserved."""
        now = self._clock() if now is None else now
        self._record_failure(self._entry(key, now), now)

    async def succeeded(self, key: str) -> None:
        """A success forgives one failure, not all: an attacker cannot wash a guessing spree
        clean by interleaving sign-ins to an account of their own."""
        entry = self._entries.get(key)
        if entry is not None and entry.failures:
            entry.failures -= 1

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """The parameters of a `Throttle` (what `Limits.throttle` is given)."""

    per_minute: float
    burst: int
    free_failures: int = 3
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    forget_failures_after_s: float = 3600.0


@dataclass(frozen=True, slots=True)
class GateRule:
    """The parameters of a `Gate` (what `Limits.gate` is given)."""

    concurrent: int
    free_failures: int
    window_s: float = 600.0
    delay_step_s: float = 0.25
    max_delay_s: float = 2.0
    alert_every_s: float = 300.0
    max_waiting: int = 1000


class Limits:
    """Makes the throttles and gates of one process, in its memory (no ``--redis-url``).

    ``name`` says which limit it is (``join``, ``login``, ...): the cluster's kind
    (`mosaic.cluster.throttle.RedisLimits`) keeps each one's counts under its own Redis keys.
    """

    def throttle(self, name: str, rule: ThrottleRule) -> Throttle:
        return Throttle(**dataclasses.asdict(rule))

    def gate(self, name: str, rule: GateRule) -> Gate:
        return Gate(**dataclasses.asdict(rule))


def guessing_rule(per_minute: float, free_failures: int) -> ThrottleRule:
    """The per-source limit on guessing a secret: meeting passcodes at the door
    (`mosaic.signaling.door.join_throttles`) and passwords at sign-in
    (`mosaic.services.Services.login_throttle`), one rule for both so that neither is the
    cheaper way in. The pace is generous (a whole class may come from one school address);
    failures are what cost: ``free_failures`` free mistakes, then each one doubles the wait, up
    to 15 minutes, so war-dialing crawls."""
    return ThrottleRule(
        per_minute=per_minute,
        burst=max(1, int(per_minute / 2)),
        free_failures=free_failures,
        backoff_base_s=1.0,
        backoff_max_s=900.0,
    )


def guessing_throttle(
    per_minute: float, free_failures: int, limits: Limits | None = None, name: str = "guess"
) -> Throttle:
    """A `Throttle` with `guessing_rule`, from ``limits`` (this process's memory by default)."""
    return (limits or Limits()).throttle(name, guessing_rule(per_minute, free_failures))


# -- per target: never refused, slowed when wrong --------------------------------------------


@dataclass(slots=True)
class _Target:
    updated: float
    level: float = 0.0  # failures lately (attempts in flight included), leaking over time
    active: int = 0  # verifications in progress
    waiters: list[tuple[int, int, asyncio.Future[None]]] = field(default_factory=list)
    alerted_at: float = -math.inf


class Turn:
    """One verification on a target, got from `Gate.turn` (an async context manager).

    Say `succeeded()` or `failed()` once the check is done; `failed()` returns True when
    the target's people should be told now that someone is guessing (at most once per
    ``alert_every_s``). Leaving the context after `failed()` serves the target's delay
    while still holding the slot. The gate's kind (memory or Redis) does the counting; this
    class is the one rule for holding and serving.
    """

    __slots__ = (
        "_gate",
        "_resolved",
        "backend_state",
        "delay",
        "key",
        "ok",
        "rank",
        "recent_failures",
    )

    def __init__(self, gate: GateBackend, key: str, rank: int, state: object = None) -> None:
        self._gate = gate
        self.key = key
        self.rank = rank
        self.backend_state = state  # the backend's own (the in-memory target)
        self.delay = 0.0
        self.ok = False
        self.recent_failures = 0
        self._resolved = False

    async def succeeded(self) -> None:
        if not self._resolved:
            self._resolved = True
            self.ok = True
            await self._gate.turn_succeeded(self)

    async def failed(self) -> bool:
        if self._resolved:
            return False
        self._resolved = True
        delay, recent, alert = await self._gate.turn_failed(self)
        self.delay, self.recent_failures = delay, recent
        return alert

    async def __aenter__(self) -> Turn:
        await self._gate.take_slot(self)
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        delayed = self.delay > 0 and kind is None
        # A clean source's wrong answer is delayed too (the same timing for everyone) but
        # does not hold the slot: that first try is how rightful people arrive.
        held = delayed and self.rank > 0
        if not held:
            await asyncio.shield(self._gate.give_slot(self))
        try:
            if delayed:
                await self._gate.serve_delay(self.delay)
        finally:
            if held:
                await asyncio.shield(self._gate.give_slot(self))


class GateBackend(Protocol):
    """Where a `Gate` keeps its counts and slots (this process, or Redis)."""

    async def take_slot(self, turn: Turn) -> None: ...
    async def give_slot(self, turn: Turn) -> None: ...
    async def turn_succeeded(self, turn: Turn) -> None: ...
    async def turn_failed(self, turn: Turn) -> tuple[float, int, bool]: ...
    async def serve_delay(self, delay: float) -> None: ...


class Gate:
    """Per-target limit (a meeting, an account) that slows wrong attempts, never right ones.

    * At most ``concurrent`` verifications run at once on a target: its CPU cost and its
      guessing rate are bounded whatever the number of sources. Waiters are served lowest
      rank first (the source's failures: a rightful user's clean address goes ahead of a
      guesser's next try), first come first served among equals.
    * Each attempt counts as a failure as it starts (reserve) until it succeeds. Failures
      leak away at ``free_failures`` per ``window_s``; above ``free_failures`` the target is
      under attack and each wrong answer is delayed (``delay_step_s`` per failure beyond,
      up to ``max_delay_s``). A source that has failed before (rank > 0) serves that delay
      *while holding its slot*, so repeated guessing pays the delay in throughput: at most
      ``concurrent / max_delay_s`` such guesses a second on a target. A clean source's try
      holds its slot only for the check itself: that is how rightful people arrive, and an
      attacker gets one such try per address (per /64) per hour, the time its failures are
      remembered. A right answer is never delayed and, ranked first, waits at most for one
      slot to free.
    * Nobody is refused up front: only when more than ``max_waiting`` wait on one target is
      the highest-ranked (most failed) waiter refused, which is never a clean source while
      a guesser waits.
    * A stopping server `release`s its gates: every turn waiting for a slot or serving a
      delay is refused at once (rate_limited / 429, "try again", no verdict), where held
      answers kept the shutdown waiting its whole grace (uvicorn's 5 s) for them.
    """

    def __init__(
        self,
        *,
        concurrent: int,
        free_failures: int,
        window_s: float = 600.0,
        delay_step_s: float = 0.25,
        max_delay_s: float = 2.0,
        alert_every_s: float = 300.0,
        max_waiting: int = 1000,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._concurrent = concurrent
        self._free = free_failures
        self._leak_per_s = free_failures / window_s
        self._delay_step = delay_step_s
        self._max_delay = max_delay_s
        self._alert_every = alert_every_s
        self._max_waiting = max_waiting
        self._max_keys = max_keys
        self._clock = clock
        self._targets: OrderedDict[str, _Target] = OrderedDict()
        self._order = itertools.count()
        self._released = False
        self._delays: set[asyncio.Future[None]] = set()  # turns serving their delay now

    def release(self) -> None:
        """The server is stopping: refuse every waiting turn and end every delay now (each
        turn raises `Refused`), and refuse any turn that comes later."""
        self._released = True
        for target in self._targets.values():
            waiters, target.waiters = target.waiters, []
            for _, _, future in waiters:
                if not future.done():
                    future.set_exception(Refused(self._max_delay))
        for future in list(self._delays):
            if not future.done():
                future.set_result(None)

    async def serve_delay(self, delay: float) -> None:
        """Sleep a wrong answer's delay, or raise `Refused` if the gate is released first."""
        if not self._released:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._delays.add(future)
            try:
                done, _ = await asyncio.wait({future}, timeout=delay)
            finally:
                self._delays.discard(future)
            if not done:
                return  # the delay served in full
        raise Refused(self._max_delay)

    def _target(self, key: str, now: float) -> _Target:
        target = self._targets.get(key)
        if target is None:
            target = _Target(updated=now)
            self._targets[key] = target
            if len(self._targets) > self._max_keys:
                self._targets.popitem(last=False)
        else:
            self._targets.move_to_end(key)
        self._leak(target, now)
        return target

    def _leak(self, target: _Target, now: float) -> None:
        target.level = max(0.0, target.level - (now - target.updated) * self._leak_per_s)
        target.updated = now

    def turn(self, key: str, rank: int = 0) -> Turn:
        """A verification turn on ``key`` for a source of ``rank``; use ``async with``."""
        target = self._target(key, self._clock())
        target.level += 1.0  # reserved: a failure until it succeeds
        return Turn(self, key, rank, target)

    async def recent_failures(self, key: str) -> int:
        target = self._targets.get(key)
        return 0 if target is None else int(self._target(key, self._clock()).level)

    async def under_attack(self, key: str) -> bool:
        return await self.recent_failures(key) > self._free

    async def take_slot(self, turn: Turn) -> None:
        target = turn.backend_state
        assert isinstance(target, _Target)
        if self._released:
            raise Refused(self._max_delay)
        if target.active < self._concurrent and not target.waiters:
            target.active += 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(target.waiters, (turn.rank, next(self._order), future))
        if len(target.waiters) > self._max_waiting:
            worst = max(target.waiters)
            target.waiters.remove(worst)
            heapq.heapify(target.waiters)
            worst[2].set_exception(Refused(self._max_delay))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._pass_slot(target)  # handed to us as we were cancelled: pass it on
            else:
                target.waiters = [w for w in target.waiters if w[2] is not future]
                heapq.heapify(target.waiters)
            raise

    async def give_slot(self, turn: Turn) -> None:
        target = turn.backend_state
        assert isinstance(target, _Target)
        self._pass_slot(target)

    def _pass_slot(self, target: _Target) -> None:
        while target.waiters:
            _, _, future = heapq.heappop(target.waiters)
            if not future.done():
                future.set_result(None)  # the slot passes on; `active` is unchanged
                return
        target.active -= 1

    async def turn_succeeded(self, turn: Turn) -> None:
        target = turn.backend_state
        assert isinstance(target, _Target)
        self._leak(target, self._clock())
        target.level = max(0.0, target.level - 1.0)

    async def turn_failed(self, turn: Turn) -> tuple[float, int, bool]:
        target = turn.backend_state
        assert isinstance(target, _Target)
        now = self._clock()
        self._leak(target, now)
        excess = target.level - self._free
        recent = int(target.level)
        if excess <= 0:
            return 0.0, recent, False
        delay = min(self._max_delay, self._delay_step * excess)
        if now - target.alerted_at >= self._alert_every:
            target.alerted_at = now
            return delay, recent, True
        return delay, recent, False

    def __len__(self) -> int:
        return len(self._targets)
