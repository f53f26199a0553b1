from mosaic.security.throttle import Throttle


def test_pace_allows_a_burst_then_refills() -> None:
    throttle = Throttle(per_minute=60, burst=3)
    assert [throttle.retry_after("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert throttle.retry_after("k", 0.0) > 0
    assert throttle.retry_after("k", 1.0) == 0.0


def test_failures_beyond_the_free_ones_double_the_wait() -> None:
    throttle = Throttle(per_minute=6000, burst=100, free_failures=2, backoff_base_s=1.0)
    now = 0.0
    waits = []
    for _ in range(6):
        assert throttle.retry_after("k", now) == 0.0
        throttle.failed("k", now)
        waits.append(throttle.retry_after("k", now))
        now += waits[-1]
    assert waits[:2] == [0.0, 0.0]
    assert waits[2:] == [1.0, 2.0, 4.0, 8.0]


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
