"""Active speaker from RFC 6464 audio levels: hysteresis, silence, ranking, highlights."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.speaker import HOLD_S, SILENT_AFTER_S, SpeakerDetector

LOUD, QUIET, SILENT = 25, 70, 127
PACKET_S = 0.02  # Opus: a packet every 20 ms
TICK_S = 0.2


class Meeting:
    """Drives a detector on a simulated clock: packets every 20 ms, ticks every 200 ms."""

    def __init__(self) -> None:
        self.detector = SpeakerDetector()
        self.now = 0.0
        self.changes: list[tuple[float, str]] = []

    def run(self, seconds: float, levels: dict[str, int]) -> None:
        end = self.now + seconds
        next_tick = self.now + TICK_S
        while self.now < end - 1e-9:
            self.now += PACKET_S
            for source_id, level in levels.items():
                self.detector.level(source_id, level, self.now)
            if self.now >= next_tick - 1e-9:
                next_tick += TICK_S
                changed = self.detector.tick(self.now)
                if changed is not None:
                    self.changes.append((self.now, changed))

    def speakers(self) -> Iterable[str]:
        return [who for _, who in self.changes]


def test_the_first_clear_speaker_takes_the_floor_quickly() -> None:
    meeting = Meeting()
    meeting.run(1.0, {"ann": LOUD, "bob": SILENT})
    assert list(meeting.speakers()) == ["ann"]
    assert meeting.changes[0][0] < 1.0
    assert meeting.detector.dominant == "ann"


def test_a_short_interjection_does_not_take_the_floor() -> None:
    meeting = Meeting()
    meeting.run(3.0, {"ann": LOUD, "bob": SILENT})
    meeting.run(0.6, {"ann": SILENT, "bob": LOUD})  # "yes, right"
    meeting.run(3.0, {"ann": LOUD, "bob": SILENT})
    assert list(meeting.speakers()) == ["ann"]


def test_a_challenger_who_keeps_talking_takes_the_floor_after_the_hold_time() -> None:
    meeting = Meeting()
    meeting.run(3.0, {"ann": LOUD, "bob": SILENT})
    switch_asked = meeting.now
    meeting.run(4.0, {"ann": SILENT, "bob": LOUD})
    assert list(meeting.speakers()) == ["ann", "bob"]
    assert meeting.changes[-1][0] - switch_asked >= HOLD_S


def test_silence_alone_never_takes_the_floor_away() -> None:
    meeting = Meeting()
    meeting.run(2.0, {"ann": LOUD, "bob": SILENT})
    meeting.run(10.0, {"ann": SILENT, "bob": SILENT})
    meeting.run(10.0, {"bob": QUIET})  # ann muted (no packets), bob's room noise
    assert list(meeting.speakers()) == ["ann"]
    assert meeting.detector.dominant == "ann"


def test_two_people_talking_over_each_other_do_not_flap() -> None:
    meeting = Meeting()
    meeting.run(2.0, {"ann": LOUD})
    for _ in range(20):  # alternating every 300 ms, for 12 s
        meeting.run(0.3, {"ann": LOUD, "bob": SILENT})
        meeting.run(0.3, {"ann": SILENT, "bob": LOUD})
    assert list(meeting.speakers()) == ["ann"]


def test_when_the_dominant_speaker_leaves_the_next_speaker_takes_over() -> None:
    meeting = Meeting()
    meeting.run(2.0, {"ann": LOUD, "bob": LOUD})
    first = meeting.detector.dominant
    assert first is not None
    meeting.detector.remove(first)
    assert meeting.detector.dominant is None
    meeting.run(1.0, {"ann": LOUD, "bob": LOUD})
    assert meeting.detector.dominant not in (None, first)


def test_loudest_ranks_the_most_active_recent_speakers() -> None:
    meeting = Meeting()
    meeting.run(1.0, {"ann": LOUD, "bob": SILENT, "cat": SILENT, "dan": SILENT})
    meeting.run(1.0, {"ann": SILENT, "bob": LOUD, "cat": SILENT, "dan": SILENT})
    assert meeting.detector.loudest(2, meeting.now) == ["bob", "ann"]
    assert len(meeting.detector.loudest(10, meeting.now)) == 4


def test_levels_are_smoothed_activity_between_0_and_1() -> None:
    meeting = Meeting()
    meeting.run(2.0, {"ann": LOUD, "bob": SILENT})
    levels = meeting.detector.levels(meeting.now)
    assert levels["ann"] > 0.9 and levels["bob"] == 0.0
    meeting.run(0.4, {"ann": SILENT, "bob": SILENT})
    assert 0.0 < meeting.detector.levels(meeting.now)["ann"] < 0.5  # fading, not off at once


def test_a_source_that_stops_sending_drops_to_zero() -> None:
    meeting = Meeting()
    meeting.run(2.0, {"ann": LOUD})
    later = meeting.now + SILENT_AFTER_S + 0.1
    assert meeting.detector.levels(later)["ann"] == 0.0
    assert meeting.detector.loudest(1, later) == ["ann"]  # still listed, last


def test_the_v_bit_lets_quieter_speech_count() -> None:
    detector = SpeakerDetector()
    for i in range(1, 51):
        detector.level("ann", 60, i * PACKET_S, voice_activity=True)
        detector.level("bob", 60, i * PACKET_S, voice_activity=False)
        if i % 10 == 0:
            detector.tick(i * PACKET_S)
    levels = detector.levels(1.0)
    assert levels["ann"] > 0.5 and levels["bob"] == 0.0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 127), st.floats(0, 0.5)),
        max_size=200,
    )
)
def test_tick_reports_only_changes_and_levels_stay_in_range(
    events: list[tuple[str, int, float]],
) -> None:
    detector = SpeakerDetector()
    now, dominant = 0.0, None
    for source_id, level, dt in events:
        now += dt
        detector.level(source_id, level, now)
        changed = detector.tick(now)
        if changed is not None:
            assert changed != dominant
            dominant = changed
        assert detector.dominant == dominant
        assert all(0.0 <= value <= 1.0 for value in detector.levels(now).values())
