"""The throttles of `mosaic.security.throttle`, counted in Redis: one budget per cluster.

A guesser who spreads passcode or password guesses over workers (or machines) must get
exactly the budget one process gives. Each limit therefore keeps its counts in Redis, and
each decision is one Lua script: the check and the count happen in Redis in one step, as
they happen in one step (no await between them) in memory, so concurrent attempts on two
workers cannot both pass a check that only one may pass.

The rules are those of the in-memory classes, line for line (the same unit tests run on
both: tests/unit/test_throttle.py). What differs is what only a cluster has:

* **A worker can die mid-check.** An attempt in flight counts as a failure until it
  resolves; its reservation carries a deadline (``lease_s``), and one that outlives it is
  taken as failed (as a cancelled attempt is in memory). A gate's verification slot, and
  a waiter's place in its queue, likewise expire if their worker stops renewing them.
* **Waiting is polling.** A waiter asks again every ``poll_s`` instead of being woken by
  an event in memory: a wait of at most 25 ms more, and no pub/sub per key.
* **Times are wall-clock** (every worker's ``time.time()``; NTP keeps machines within
  milliseconds, far below these limits' seconds), where one process uses its monotonic
  clock.
* **Memory is bounded by expiry**, not by a key count: every key expires once its counts
  would have decayed to nothing.
* Redis unreachable: the call raises `ClusterUnavailable` (no attempt is let through
  unchecked); signaling and the REST layer answer "unavailable".
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import secrets
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from mosaic.cluster import keys
from mosaic.cluster.link import RedisLink
from mosaic.security.throttle import (
    Gate,
    GateRule,
    Limits,
    Refused,
    Reservation,
    Throttle,
    ThrottleRule,
    Turn,
)

POLL_S = 0.025

# KEYS: the limit's hash. ARGV: op, now, rate/s, burst, free, base, max, forget, lease, ttl,
# forgive. The hash holds the source's bucket and its failures, and the deadlines of its
# attempts in flight (a JSON list): exactly `mosaic.security.throttle._Entry`.
_THROTTLE = """
local key = KEYS[1]
local op = ARGV[1]
local now = tonumber(ARGV[2])
local rate, burst, free = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local base, maxb, forget = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local lease, ttl, forgive = tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11] == '1'
local h = redis.call('HMGET', key, 'tokens', 'updated', 'failures', 'blocked', 'last', 'pending')
if h[1] == false and (op == 'release' or op == 'succeeded') then return {'0', 0, 0} end
local tokens = tonumber(h[1]) or burst
local updated = tonumber(h[2]) or now
local failures = tonumber(h[3]) or 0
local blocked = tonumber(h[4]) or 0
local last = tonumber(h[5]) or 0
local pending = {}
if h[6] then pending = cjson.decode(h[6]) end
table.sort(pending)

local function backoff(f)
  local excess = f - free
  if excess < 0 then return 0 end
  return math.min(maxb, base * 2 ^ excess)
end
local function record_failure(at)
  failures = failures + 1
  last = at
  local d = backoff(failures)
  if d > 0 then blocked = math.max(blocked, at + d) end
end
-- Attempts whose worker never said how they ended have failed. (Resolving one's own
-- attempt reads no clock, as in memory.)
if op ~= 'release' and op ~= 'succeeded' then
  while #pending > 0 and pending[1] < now do
    table.remove(pending, 1)
    record_failure(now)
  end
  if failures > 0 and #pending == 0 and now - last > forget then failures = 0 end
end

local function verdict()
  if now < blocked then return blocked - now, 0 end
  if #pending > 0 then
    local w = backoff(failures + #pending)
    if w > 0 then return w, 1 end
  end
  tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
  updated = now
  if tokens < 1 then return (1 - tokens) / rate, 0 end
  return 0, 0
end

local wait, busy, rank = 0, 0, 0
if op == 'reserve' or op == 'take' then
  wait, busy = verdict()
  if wait <= 0 then
    tokens = tokens - 1
    if op == 'reserve' then
      table.insert(pending, now + lease)
      rank = failures + #pending - 1
    end
  end
elseif op == 'confirm' then
  if #pending > 0 then table.remove(pending, 1) end
  record_failure(now)
elseif op == 'release' then
  if #pending > 0 then table.remove(pending, 1) end
  if forgive and failures > 0 then failures = failures - 1 end
elseif op == 'failed' then
  record_failure(now)
elseif op == 'succeeded' then
  if failures > 0 then failures = failures - 1 end
end
local encoded = '[]'
if #pending > 0 then encoded = cjson.encode(pending) end
redis.call('HSET', key, 'tokens', tostring(tokens), 'updated', tostring(updated),
  'failures', failures, 'blocked', tostring(blocked), 'last', tostring(last),
  'pending', encoded)
redis.call('EXPIRE', key, ttl)
return {tostring(wait), busy, rank}
"""

# KEYS: the target's hash (level, updated, alerted, seq, r:<turn> refusals), its holders
# (ZSET turn -> lease deadline), its queue (ZSET turn -> rank·2^32 + arrival) and the
# queue's leases (ZSET turn -> deadline). ARGV: op, now (the gate's clock), wall (leases),
# free, leak/s, step, max delay, alert every, ttl, then the op's own.
_GATE = """
local state, holders, queue, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op = ARGV[1]
local now, wall = tonumber(ARGV[2]), tonumber(ARGV[3])
local free, leak, step = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local maxd, every, ttl = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local h = redis.call('HMGET', state, 'level', 'updated', 'alerted')
local level = tonumber(h[1]) or 0
local updated = tonumber(h[2]) or now
local alerted = tonumber(h[3])
level = math.max(0, level - math.max(0, now - updated) * leak)
updated = now
local result = {0}

local function save()
  redis.call('HSET', state, 'level', tostring(level), 'updated', tostring(updated))
  if alerted then redis.call('HSET', state, 'alerted', tostring(alerted)) end
  local keep = ttl
  if leak > 0 then keep = math.ceil(math.min(604800, math.max(ttl, level / leak + every))) end
  for _, k in ipairs({state, holders, queue, leases}) do redis.call('EXPIRE', k, keep) end
end

if op == 'take' then
  local id, rank, first = ARGV[10], tonumber(ARGV[11]), ARGV[12] == '1'
  local concurrent, max_waiting = tonumber(ARGV[13]), tonumber(ARGV[14])
  local hold, wait_lease = tonumber(ARGV[15]), tonumber(ARGV[16])
  if first then level = level + 1 end
  redis.call('ZREMRANGEBYSCORE', holders, '-inf', wall)
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', wall)) do
    redis.call('ZREM', queue, gone)
  end
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', wall)
  if redis.call('HDEL', state, 'r:' .. id) == 1 then
    result = {-1}
  elseif redis.call('ZCARD', holders) < concurrent then
    local head = redis.call('ZRANGE', queue, 0, 0)
    if #head == 0 or head[1] == id then
      redis.call('ZREM', queue, id)
      redis.call('ZREM', leases, id)
      redis.call('ZADD', holders, wall + hold, id)
      result = {1}
    end
  end
  if result[1] == 0 then
    if not redis.call('ZSCORE', queue, id) then
      local seq = redis.call('HINCRBY', state, 'seq', 1)
      redis.call('ZADD', queue, rank * 4294967296 + seq, id)
    end
    redis.call('ZADD', leases, wall + wait_lease, id)
    if redis.call('ZCARD', queue) > max_waiting then
      local worst = redis.call('ZRANGE', queue, -1, -1)[1]
      redis.call('ZREM', queue, worst)
      redis.call('ZREM', leases, worst)
      if worst == id then result = {-1} else redis.call('HSET', state, 'r:' .. worst, 1) end
    end
  end
elseif op == 'give' then
  redis.call('ZREM', holders, ARGV[10])
elseif op == 'leave' then
  redis.call('ZREM', queue, ARGV[10])
  redis.call('ZREM', leases, ARGV[10])
elseif op == 'succeeded' then
  level = math.max(0, level - 1)
elseif op == 'failed' then
  local excess = level - free
  local recent = math.floor(level)
  if excess <= 0 then
    result = {'0', recent, 0}
  else
    local delay = math.min(maxd, step * excess)
    local alert = 0
    if alerted == nil or now - alerted >= every then
      alerted = now
      alert = 1
    end
    result = {tostring(delay), recent, alert}
  end
elseif op == 'level' then
  result = {math.floor(level)}
end
save()
return result
"""


class RedisThrottle(Throttle):
    """`Throttle` with its counts in Redis (``mosaic:throttle:{name:key}``)."""

    def __init__(
        self,
        link: RedisLink,
        name: str,
        rule: ThrottleRule,
        *,
        lease_s: float = 60.0,
        max_waiting_per_key: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            **dataclasses.asdict(rule), max_waiting_per_key=max_waiting_per_key, clock=clock
        )
        self._link = link
        self._name = name
        self._lease = lease_s
        self._script = link.redis.register_script(_THROTTLE)
        # Long enough for every count to have decayed: failures forgotten, the back-off
        # served, the bucket full again.
        self._ttl = math.ceil(
            max(
                rule.forget_failures_after_s,
                rule.backoff_max_s,
                rule.burst / (rule.per_minute / 60.0),
            )
            + 60
        )
        self._waiting: Counter[str] = Counter()

    async def _run(
        self, op: str, key: str, now: float | None = None, *, forgive: bool = False
    ) -> tuple[float, bool, int]:
        now = self._clock() if now is None else now
        args = [
            op, repr(now), repr(self._rate), repr(self._burst), self._free_failures,
            repr(self._backoff_base), repr(self._backoff_max), repr(self._forget_after),
            repr(self._lease), self._ttl, "1" if forgive else "0",
        ]  # fmt: skip
        wait, busy, rank = await self._link.call(
            self._script(keys=[keys.throttle(self._name, key)], args=args)
        )
        return float(wait), bool(busy), int(rank)

    async def reserve(self, key: str, now: float | None = None) -> float:
        return (await self._run("reserve", key, now))[0]

    async def acquire(self, key: str, *, patience_s: float = 5.0) -> Reservation:
        deadline = time.monotonic() + patience_s
        waiting = False
        try:
            while True:
                wait, busy, rank = await self._run("reserve", key)
                if wait <= 0:
                    return Reservation(self, key, rank=rank)
                if not busy or time.monotonic() >= deadline:
                    raise Refused(wait)
                if not waiting:
                    if self._waiting[key] >= self._max_waiting:
                        raise Refused(wait)
                    self._waiting[key] += 1
                    waiting = True
                await asyncio.sleep(POLL_S)
        finally:
            if waiting:
                self._waiting[key] -= 1
                if not self._waiting[key]:
                    del self._waiting[key]

    async def confirm_failure(self, key: str, now: float | None = None) -> None:
        await self._run("confirm", key, now)

    async def release(self, key: str, *, forgive: bool = False) -> None:
        await self._run("release", key, forgive=forgive)

    async def retry_after(self, key: str, now: float | None = None) -> float:
        return (await self._run("take", key, now))[0]

    async def failed(self, key: str, now: float | None = None) -> None:
        await self._run("failed", key, now)

    async def succeeded(self, key: str) -> None:
        await self._run("succeeded", key)

    def __len__(self) -> int:
        """Keys held here: none (Redis holds them, and expires them)."""
        return 0


class RedisGate(Gate):
    """`Gate` with its counts, slots and queue in Redis: ``concurrent`` verifications at
    once on a target in the whole cluster, served lowest rank first wherever they wait."""

    def __init__(
        self,
        link: RedisLink,
        name: str,
        rule: GateRule,
        *,
        hold_lease_s: float = 30.0,
        wait_lease_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(**dataclasses.asdict(rule), clock=clock)
        self._link = link
        self._name = name
        self._hold = hold_lease_s
        self._wait_lease = wait_lease_s
        self._script = link.redis.register_script(_GATE)
        self._ttl = math.ceil(rule.window_s + rule.alert_every_s)

    async def _run(self, op: str, key: str, *extra: Any) -> list[Any]:
        base = keys.throttle(self._name, key)
        args = [
            op, repr(self._clock()), repr(time.time()), self._free, repr(self._leak_per_s),
            repr(self._delay_step), repr(self._max_delay), repr(self._alert_every), self._ttl,
            *extra,
        ]  # fmt: skip
        names = [base, base + ":slots", base + ":queue", base + ":leases"]
        result: list[Any] = await self._link.call(self._script(keys=names, args=args))
        return result

    def turn(self, key: str, rank: int = 0) -> Turn:
        """A verification turn on ``key``; counted (in Redis) as it is entered."""
        return Turn(self, key, rank, secrets.token_hex(8))

    async def recent_failures(self, key: str) -> int:
        return int((await self._run("level", key))[0])

    async def take_slot(self, turn: Turn) -> None:
        if self._released:  # the server is stopping (`Gate.release`)
            raise Refused(self._max_delay)
        first = True
        try:
            while True:
                args = (turn.backend_state, turn.rank, "1" if first else "0", self._concurrent,
                        self._max_waiting, repr(self._hold), repr(self._wait_lease))  # fmt: skip
                taken = int((await self._run("take", turn.key, *args))[0])
                first = False
                if taken == 1:
                    return
                if taken == -1:
                    raise Refused(self._max_delay)
                if self._released:  # the server is stopping: leave the queue, refused
                    await self._run("leave", turn.key, turn.backend_state)
                    raise Refused(self._max_delay)
                await asyncio.sleep(POLL_S)
        except asyncio.CancelledError:
            await asyncio.shield(self._run("leave", turn.key, turn.backend_state))
            raise

    async def give_slot(self, turn: Turn) -> None:
        await self._run("give", turn.key, turn.backend_state)

    async def turn_succeeded(self, turn: Turn) -> None:
        await self._run("succeeded", turn.key)

    async def turn_failed(self, turn: Turn) -> tuple[float, int, bool]:
        delay, recent, alert = await self._run("failed", turn.key)
        return float(delay), int(recent), bool(alert)

    def __len__(self) -> int:
        return 0


class RedisLimits(Limits):
    """Makes the cluster's throttles and gates: counts in Redis, shared by every worker."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link

    def throttle(self, name: str, rule: ThrottleRule) -> Throttle:
        return RedisThrottle(self._link, name, rule)

    def gate(self, name: str, rule: GateRule) -> Gate:
        return RedisGate(self._link, name, rule)
