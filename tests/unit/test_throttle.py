"""The two limits of mosaic.security.throttle, with the clock in the test's hands."""

from __future__ import annotations

import asyncio

import pytest

from mosaic.security.throttle import Gate, Refused, Throttle, source_key


def test_pace_allows_a_burst_then_refills() -> None:
    throttle = Throttle(per_minute=60, burst=3)
    assert [throttle.retry_after("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.retry_after("k", 0.0) > 0
    assert throttle.retry_after("k", 1.0) == 0.0


def test_free_failures_then_each_further_one_doubles_the_wait() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=2, backoff_base_s=1.0)
    now = 0.0
    waits = []
    for _ in range(6):
        assert throttle.reserve("k", now) == 0.0
        throttle.confirm_failure("k", now)
        waits.append(throttle.retry_after("k", now))
        now += waits[-1]
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]


def test_attempts_in_flight_count_as_failures_before_they_are_checked() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=5)
    taken = [throttle.reserve("k", 0.0) for _ in range(60)]
    assert taken.count(0.0) == 5  # 60 at once, 5 allowed: the rest wait for those 5
    for _ in range(5):
        throttle.confirm_failure("k", 0.0)
    assert throttle.reserve("k", 0.5) > 0  # and the back-off has begun


def test_a_released_reservation_lets_the_next_attempt_through() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=1)
    assert throttle.reserve("k", 0.0) == 0.0
    assert throttle.reserve("k", 0.0) > 0
    throttle.release("k")
    assert throttle.reserve("k", 0.0) == 0.0


async def test_concurrent_attempts_wait_for_those_in_flight_and_right_ones_all_pass() -> None:
    """A class joining at once from one school address: nobody is refused when every
    passcode is right, yet never more than the free failures are being checked at once."""
    throttle = Throttle(per_minute=6000, burst=100, free_failures=3)
    in_flight = peak = 0

    async def right_attempt() -> None:
        nonlocal in_flight, peak
        with await throttle.acquire("school") as reservation:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            reservation.succeeded()

    await asyncio.gather(*(right_attempt() for _ in range(30)))
    assert peak == 3


async def test_concurrent_wrong_attempts_are_refused_once_the_free_ones_fail() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=5)
    checked = 0

    async def wrong_attempt() -> str:
        nonlocal checked
        try:
            with await throttle.acquire("bot"):
                checked += 1
                await asyncio.sleep(0.01)
                return "wrong"  # leaving unresolved confirms the failure
        except Refused:
            return "refused"

    results = await asyncio.gather(*(wrong_attempt() for _ in range(60)))
    assert checked == 5 and results.count("refused") == 55


def test_the_wait_is_capped() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=0, backoff_max_s=30.0)
    for _ in range(40):
        throttle.failed("k", 0.0)
    assert throttle.retry_after("k", 0.0) == 30.0


def test_a_success_forgives_one_failure_only() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=1)
    for _ in range(5):
        throttle.failed("k", 0.0)
    throttle.succeeded("k")
    throttle.failed("k", 100.0)
    assert throttle.retry_after("k", 100.0) > 0


def test_memory_is_bounded_whatever_keys_an_attacker_invents() -> None:
    throttle = Throttle(per_minute=60, burst=1, max_keys=100)
    for i in range(10_000):
        throttle.failed(f"key-{i}", 0.0)
    assert len(throttle) == 100
    gate = Gate(concurrent=1, free_failures=1, max_keys=100)
    for i in range(10_000):
        gate.turn(f"key-{i}")
    assert len(gate) == 100


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


async def test_a_gate_never_refuses_but_delays_wrong_answers_once_under_attack() -> None:
    gate = Gate(
        concurrent=2, free_failures=3, delay_step_s=0.01, max_delay_s=0.05, clock=lambda: 0.0
    )
    delays = []
    for _ in range(8):
        async with gate.turn("meeting", rank=1) as turn:
            turn.failed()
        delays.append(turn.delay)
    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3:] == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    async with gate.turn("meeting") as turn:
        turn.succeeded()
    assert turn.ok and turn.delay == 0.0


async def test_a_gate_tells_once_per_period_that_a_target_is_under_attack() -> None:
    clock = [0.0]
    gate = Gate(
        concurrent=1, free_failures=2, delay_step_s=0.0, alert_every_s=60, clock=lambda: clock[0]
    )
    alerts = []
    for _ in range(10):
        async with gate.turn("meeting") as turn:
            alerts.append(turn.failed())
    assert alerts == [False, False, True] + [False] * 7
    clock[0] = 61.0
    async with gate.turn("meeting") as turn:
        assert turn.failed()


async def test_a_gate_serves_a_clean_source_before_a_guessers_next_tries() -> None:
    gate = Gate(concurrent=1, free_failures=0, delay_step_s=0.0)
    order: list[str] = []
    release = asyncio.Event()

    async def attempt(name: str, rank: int) -> None:
        async with gate.turn("account", rank=rank) as turn:
            order.append(name)
            if name == "first":
                await release.wait()
            turn.failed()

    first = asyncio.create_task(attempt("first", 0))
    await asyncio.sleep(0)
    tasks = [asyncio.create_task(attempt(f"guess{i}", 3)) for i in range(5)]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(attempt("owner", 0)))
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *tasks)
    assert order[:2] == ["first", "owner"]


async def test_a_gate_caps_the_checks_in_progress_on_one_target() -> None:
    gate = Gate(concurrent=3, free_failures=100)
    in_flight = peak = 0

    async def attempt() -> None:
        nonlocal in_flight, peak
        async with gate.turn("meeting") as turn:
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.005)
            in_flight -= 1
            turn.failed()

    await asyncio.gather(*(attempt() for _ in range(40)))
    assert peak == 3
