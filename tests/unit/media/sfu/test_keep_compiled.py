"""The receive side's bookkeeping compiled (`fastpath.keeper`, used by `UpStream.receive`)
against the Python methods it stands for (`BitrateMeter.add`, `NackTracker.received`,
`PacketCache.store`): twin triples fed the same packets (in order, repeated, lost, late,
wrapping, far apart in time, into caches that must grow) hold the same state after every
one; what it does not do itself it leaves, untouched, to the Python methods.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.packet_cache import NackTracker, PacketCache
from mosaic.media.sfu.simulcast import BitrateMeter
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane


def _keep() -> fastpath.Keep:
    keep = fastpath.keeper(BitrateMeter, NackTracker, PacketCache)
    assert keep is not None
    return keep


Triple = tuple[BitrateMeter, NackTracker | None, PacketCache]


def _triple(video: bool, capacity: int) -> Triple:
    nack = NackTracker() if video else None
    return BitrateMeter(), nack, PacketCache(capacity, max_capacity=4 * capacity, history_s=0.5)


def _state(triple: Triple) -> tuple[Any, ...]:
    meter, nack, cache = triple
    nacked = None if nack is None else (nack._newest, dict(nack._missing))
    return (
        list(meter._buckets), meter._first, meter._index,
        nacked,
        cache._mask, list(cache._numbers), list(cache._data), list(cache._arrivals),
    )  # fmt: skip


def _python(triple: Triple, number: int, data: bytes, now: float) -> None:
    meter, nack, cache = triple
    meter.add(len(data), now)
    if nack is not None:
        nack.received(number, now)
    cache.store(number, data, now)


STEP = st.tuples(
    st.one_of(st.just(1), st.just(1), st.just(0), st.integers(-30, 30), st.integers(0, 0xFFFF)),
    st.one_of(st.floats(0, 0.02), st.floats(0, 0.3), st.floats(0, 3)),
    st.integers(0, 1300),
)


@settings(max_examples=300, deadline=None)
@given(
    st.booleans(),
    st.sampled_from([4, 16, 64]),
    st.integers(0, 0xFFFF),
    st.floats(0, 1e6, allow_nan=False),
    st.lists(STEP, max_size=80),
)
def test_twins_agree_after_every_packet(
    video: bool, capacity: int, number: int, now: float, steps: list[tuple[int, float, int]]
) -> None:
    keep = _keep()
    python, compiled = _triple(video, capacity), _triple(video, capacity)
    for ahead, dt, size in steps:
        number, now = (number + ahead) & 0xFFFF, now + dt
        data = bytes([number & 0xFF]) * size
        _python(python, number, data, now)
        if not keep(*compiled, number, data, size, now):
            _python(compiled, number, data, now)
        assert _state(compiled) == _state(python)


def test_packets_in_order_take_the_compiled_way_and_the_rest_the_python_one() -> None:
    keep = _keep()
    meter, nack, cache = triple = _triple(True, 16)
    data = b"x" * 100
    assert not keep(*triple, 7, data, 100, 10.05)  # the first: the meter starts, in Python
    _python(triple, 7, data, 10.05)
    assert keep(*triple, 8, data, 100, 10.06)  # the next, in the same bucket
    assert keep(*triple, 8, data, 100, 10.07)  # the same again
    assert meter._buckets[meter._index % 10] == 300 and nack._newest == 8
    assert cache.get(8) is data and cache.arrival(8) == 10.07
    assert not keep(*triple, 9, data, 100, 10.25)  # a new bucket
    _python(triple, 9, data, 10.25)
    assert not keep(*triple, 12, data, 100, 10.26)  # a gap: 10 and 11 are NACKed in Python
    _python(triple, 12, data, 10.26)
    assert not keep(*triple, 13, data, 100, 10.27)  # while numbers are missing
    assert not keep(meter, nack, cache, 13, data, 100, 10)  # a clock that is not a float
    before = _state(triple)
    assert not keep(object(), nack, cache, 13, data, 100, 10.27)  # not its classes
    assert _state(triple) == before


@pytest.mark.parametrize("video", [True, False])
def test_a_cache_that_must_grow_grows_in_python(video: bool) -> None:
    keep = _keep()
    triple = _triple(video, 4)
    for number in range(4):
        _python(triple, number, b"p", 1.0 + number / 1000)
    # Number 4 lands on number 0's slot, stored 3 ms before: well within the history.
    assert not keep(*triple, 4, b"p", 1, 1.004)
    _python(triple, 4, b"p", 1.004)
    assert triple[2].capacity == 8


def test_the_bucket_is_pythons_floor_division() -> None:
    """10.0 // 0.1 is 99.0 in Python (0.1 is a little more than a tenth), where rounding
    10.0 / 0.1 down gives 100: the compiled meter files the packet where Python does."""
    keep = _keep()
    python, compiled = _triple(False, 16), _triple(False, 16)
    for triple in (python, compiled):
        _python(triple, 1, b"a", 9.95)
    _python(python, 2, b"bb", 10.0)
    assert keep(*compiled, 2, b"bb", 2, 10.0)
    assert _state(compiled) == _state(python)
