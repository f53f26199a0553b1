"""`ReceptionStats.update` compiled (`fastpath.stats_updater`, used by `UpStream.receive`)
against the Python method: twin statistics fed the same packets (in order, lost, late,
repeated, wrapping, restarting) are equal field for field after every one, jitter to the
last bit; what it does not read itself it leaves, untouched, to the Python method.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.statistics import ReceptionStats
from mosaic.rtc import fastpath
from tests.helpers.compiled import compiled_lane

pytestmark = compiled_lane


def _update() -> fastpath.StatsUpdate:
    update = fastpath.stats_updater(ReceptionStats)
    assert update is not None
    return update


STEP = st.tuples(
    st.one_of(st.integers(1, 3), st.integers(1, 3), st.integers(-40, 40), st.integers(0, 0xFFFF)),
    st.one_of(st.integers(0, 6000), st.integers(0, 2**32 - 1)),
    st.floats(0, 0.2, allow_nan=False),
    st.integers(0, 1500),
    st.booleans(),  # a sender report or a skipped gap in between, as the up stream makes
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([48000, 90000]),
    st.integers(0, 0xFFFF),
    st.integers(0, 2**32 - 1),
    st.floats(0, 1e6, allow_nan=False),
    st.lists(STEP, max_size=80),
)
def test_twins_agree_after_every_packet(
    clock_rate: int,
    seq: int,
    ts: int,
    now: float,
    steps: list[tuple[int, int, float, int, bool]],
) -> None:
    update = _update()
    python, compiled = ReceptionStats(clock_rate), ReceptionStats(clock_rate)
    for ahead, advance, dt, size, between in steps:
        seq, ts, now = (seq + ahead) & 0xFFFF, (ts + advance) & 0xFFFFFFFF, now + dt
        if between:
            for stats in (python, compiled):
                stats.skip_gap(seq)
                stats.sender_report(int(now * 1000) << 16, now, ts)
        python.update(seq, ts, now, size)
        assert update(compiled, seq, ts, now, size) is True
        assert compiled == python
        assert repr(compiled.jitter) == repr(python.jitter)
    assert compiled.report_block(1, now + 1) == python.report_block(1, now + 1)


def test_what_it_leaves_to_the_python_method() -> None:
    update = _update()
    stats = ReceptionStats(90000)
    assert update(stats, 1, 2, 1.0, 100)
    before = repr(stats)
    assert not update(stats, 2, 2, 1, 100)  # an int clock: Python's arithmetic
    assert not update(stats, 2**70, 2, 1.0, 100)
    assert not update(stats, 2, 2.0, 1.0, 100)
    stats.jitter = 0  # type: ignore[assignment]
    assert not update(stats, 2, 2, 1.0, 100)
    stats.jitter = 0.0
    assert repr(stats) == before

    class Other(ReceptionStats):
        __slots__ = ()

    assert not update(Other(90000), 1, 2, 1.0, 100)
    with pytest.raises(TypeError):
        fastpath._fastpath.bind_stats(int)
    _update()  # bound to the real class again


def test_the_pure_path_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(fastpath.PURE_ENV, "1")
    assert fastpath.stats_updater(ReceptionStats) is None
