"""The two limits of mosaic.security.throttle, with the clock in the test's hands.

Every rule is checked twice: on the in-memory limits one process uses, and on the Redis ones
a cluster uses (`mosaic.cluster.throttle`, against a real redis-server): the same rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from mosaic.cluster.link import RedisLink
from mosaic.cluster.throttle import RedisGate, RedisThrottle
from mosaic.security.throttle import Gate, GateRule, Refused, Throttle, ThrottleRule, source_key

MakeThrottle = Callable[..., Throttle]
MakeGate = Callable[..., Gate]


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[RedisLink | None]:
    """None: this process's memory; else a link to a redis-server of the test's own."""
    if request.param == "memory":
        yield None
        return
    link = RedisLink(request.getfixturevalue("redis_server").url)
    yield link
    await link.close()


@pytest.fixture
def make_throttle(backend: RedisLink | None) -> MakeThrottle:
    def make(**kw: Any) -> Throttle:
        if backend is None:
            return Throttle(**kw)
        extra = {k: kw.pop(k) for k in ("max_waiting_per_key", "clock") if k in kw}
        kw.pop("max_keys", None)
        return RedisThrottle(backend, "test", ThrottleRule(**kw), **extra)

    return make


@pytest.fixture
def make_gate(backend: RedisLink | None) -> MakeGate:
    def make(**kw: Any) -> Gate:
        if backend is None:
            return Gate(**kw)
        extra = {k: kw.pop(k) for k in ("clock",) if k in kw}
        kw.pop("max_keys", None)
        return RedisGate(backend, "test-gate", GateRule(**kw), **extra)

    return make


async def test_pace_allows_a_burst_then_refills(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(per_minute=60, burst=3)
    assert [await throttle.retry_after("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await throttle.retry_after("k", 0.0) > 0
    assert await throttle.retry_after("k", 1.0) == 0.0


async def test_free_failures_then_each_further_one_doubles_the_wait(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=2, backoff_base_s=1.0)
    now = 0.0
    waits = []
    for _ in range(6):
        assert await throttle.reserve("k", now) == 0.0
        await throttle.confirm_failure("k", now)
        waits.append(await throttle.retry_after("k", now))
        now += waits[-1]
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]


async def test_attempts_in_flight_count_as_failures_before_they_are_checked(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=5)
    taken = [await throttle.reserve("k", 0.0) for _ in range(60)]
    assert taken.count(0.0) == 5  # 60 at once, 5 allowed: the rest wait for those 5
    for _ in range(5):
        await throttle.confirm_failure("k", 0.0)
    assert await throttle.reserve("k", 0.5) > 0  # and the back-off has begun


async def test_a_released_reservation_lets_the_next_attempt_through(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=1)
    assert await throttle.reserve("k", 0.0) == 0.0
    assert await throttle.reserve("k", 0.0) > 0
    await throttle.release("k")
    assert await throttle.reserve("k", 0.0) == 0.0


async def test_concurrent_attempts_wait_for_those_in_flight_and_right_ones_all_pass(
    make_throttle: MakeThrottle,
) -> None:
    """A class joining at once from one school address: nobody is refused when every
    passcode is right, yet never more than the free failures are being checked at once."""
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=3)
    in_flight = peak = 0

    async def right_attempt() -> None:
        nonlocal in_flight, peak
        async with await throttle.acquire("school") as reservation:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            await reservation.succeeded()

    await asyncio.gather(*(right_attempt() for _ in range(30)))
    assert peak == 3


async def test_concurrent_wrong_attempts_are_refused_once_the_free_ones_fail(
    make_throttle: MakeThrottle,
) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=5)
    checked = 0

    async def wrong_attempt() -> str:
        nonlocal checked
        try:
            async with await throttle.acquire("bot"):
                checked += 1
                await asyncio.sleep(0.01)
                return "wrong"  # leaving unresolved confirms the failure
        except Refused:
            return "refused"

    results = await asyncio.gather(*(wrong_attempt() for _ in range(60)))
    assert checked == 5 and results.count("refused") == 55


async def test_the_wait_is_capped(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=0, backoff_max_s=30.0)
    for _ in range(40):
        await throttle.failed("k", 0.0)
    assert await throttle.retry_after("k", 0.0) == 30.0


async def test_a_success_forgives_one_failure_only(make_throttle: MakeThrottle) -> None:
    throttle = make_throttle(per_minute=6000, burst=100, free_failures=1)
    for _ in range(5):
        await throttle.failed("k", 0.0)
    await throttle.succeeded("k")
    await throttle.failed("k", 100.0)
    assert await throttle.retry_after("k", 100.0) > 0


async def test_memory_is_bounded_whatever_keys_an_attacker_invents(
    backend: RedisLink | None, make_throttle: MakeThrottle, make_gate: MakeGate
) -> None:
    """In memory: a bounded number of keys. In Redis: every key expires."""
    throttle = make_throttle(per_minute=60, burst=1, max_keys=100)
    gate = make_gate(concurrent=1, free_failures=1, max_keys=100)
    if backend is None:
        for i in range(10_000):
            await throttle.failed(f"key-{i}", 0.0)
        assert len(throttle) == 100
        for i in range(10_000):
            gate.turn(f"key-{i}")
        assert len(gate) == 100
        return
    for i in range(20):
        await throttle.failed(f"key-{i}", 0.0)
        async with gate.turn(f"key-{i}") as turn:
            await turn.failed()
    names = await backend.redis.keys("*")
    assert len(names) >= 40
    assert all([await backend.redis.ttl(name) > 0 for name in names])


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("not an address", "not an address"),
    ],
)
def test_an_ipv6_64_is_one_source_and_a_mapped_ipv4_is_the_ipv4(address: str, key: str) -> None:
    assert source_key(address) == key


async def test_a_gate_never_refuses_but_delays_wrong_answers_once_under_attack(
    make_gate: MakeGate,
) -> None:
    gate = make_gate(
        concurrent=2, free_failures=3, delay_step_s=0.01, max_delay_s=0.05, clock=lambda: 0.0
    )
    delays = []
    for _ in range(8):
        async with gate.turn("meeting", rank=1) as turn:
            await turn.failed()
        delays.append(turn.delay)
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    async with gate.turn("meeting") as turn:
        await turn.succeeded()
    assert turn.ok and turn.delay == 0.0


async def test_a_gate_tells_once_per_period_that_a_target_is_under_attack(
    make_gate: MakeGate,
) -> None:
    clock = [0.0]
    gate = make_gate(
        concurrent=1, free_failures=2, delay_step_s=0.0, alert_every_s=60, clock=lambda: clock[0]
    )
    alerts = []
    for _ in range(10):
        async with gate.turn("meeting") as turn:
            alerts.append(await turn.failed())
    assert alerts == [False, False, True] + [False] * 7
    clock[0] = 61.0
    async with gate.turn("meeting") as turn:
        assert await turn.failed()


async def test_a_gate_serves_a_clean_source_before_a_guessers_next_tries(
    make_gate: MakeGate,
) -> None:
    gate = make_gate(concurrent=1, free_failures=0, delay_step_s=0.0)
    order: list[str] = []
    release = asyncio.Event()

    async def attempt(name: str, rank: int) -> None:
        async with gate.turn("account", rank=rank) as turn:
            order.append(name)
            if name == "first":
                await release.wait()
            await turn.failed()

    first = asyncio.create_task(attempt("first", 0))
    await asyncio.sleep(0.05)
    tasks = [asyncio.create_task(attempt(f"guess{i}", 3)) for i in range(5)]
    await asyncio.sleep(0.05)
    tasks.append(asyncio.create_task(attempt("owner", 0)))
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.gather(first, *tasks)
    assert order[:2] == ["first", "owner"]


async def test_a_gate_caps_the_checks_in_progress_on_one_target(make_gate: MakeGate) -> None:
    gate = make_gate(concurrent=3, free_failures=100)
    in_flight = peak = 0

    async def attempt() -> None:
        nonlocal in_flight, peak
        async with gate.turn("meeting") as turn:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1
            await turn.failed()

    await asyncio.gather(*(attempt() for _ in range(40)))
    assert peak == 3


async def test_an_attempt_whose_worker_died_counts_as_a_failure_and_frees_its_slot(
    redis_server: Any,
) -> None:
    """Cluster only: a worker killed mid-check never resolves its reservation nor gives back
    its gate slot. The reservation's lease runs out and it counts as failed (as a hung-up
    attempt does in memory); the slot's lease runs out and the next check gets it."""
    link = RedisLink(redis_server.url)
    try:
        throttle = RedisThrottle(
            link, "dead", ThrottleRule(per_minute=6000, burst=100, free_failures=1), lease_s=5
        )
        assert await throttle.reserve("k", 0.0) == 0.0  # its worker dies here
        assert await throttle.reserve("k", 1.0) > 0  # in flight: waits for it
        assert await throttle.reserve("k", 6.0) > 0  # lease out: a failure, back-off begins
        assert await throttle.retry_after("k", 8.0) == 0.0  # served (1 s), then allowed

        gate = RedisGate(link, "dead-gate", GateRule(concurrent=1, free_failures=5),
                         hold_lease_s=0.3)  # fmt: skip
        dead = gate.turn("meeting")
        await dead.__aenter__()  # holds the only slot, and its worker dies
        async with asyncio.timeout(3):
            async with gate.turn("meeting") as turn:
                await turn.succeeded()
        assert turn.ok
    finally:
        await link.close()


async def test_a_released_gate_refuses_the_turns_it_holds_at_once(make_gate: MakeGate) -> None:
    """The server is stopping: a turn serving its delay and the turns waiting behind it are
    refused now ("try again", no verdict) instead of holding the shutdown for seconds."""
    gate = make_gate(concurrent=1, free_failures=0, delay_step_s=30.0, max_delay_s=30.0)
    outcomes: list[str] = []

    async def guess() -> None:
        try:
            async with gate.turn("meeting", rank=1) as turn:
                await turn.failed()
            outcomes.append("answered")
        except Refused:
            outcomes.append("refused")

    guesses = [asyncio.create_task(guess()) for _ in range(4)]
    await asyncio.sleep(0.2)  # one serves its 30 s delay holding the turn; three wait
    assert outcomes == []
    gate.release()
    await asyncio.wait_for(asyncio.gather(*guesses), 2.0)
    assert outcomes == ["refused"] * 4
    with pytest.raises(Refused):  # and any turn after the release
        async with gate.turn("meeting") as turn:
            await turn.succeeded()
