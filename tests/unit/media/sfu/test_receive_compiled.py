"""`UpStream.receive` compiled (`fastpath.receiver`) against its Python: twin streams, one
with the lane and one without, fed the same packets (in order, repeated, lost, late, after
a silence, padding, audio with and without a level, VP8 with 7- and 15-bit PictureIDs and
with and without TL0PICIDX, keyframes, receivers added on the way) hold the same state after
every packet, hand their receivers the same templates and the same VP8 IDs, and call the
audio-level callback alike. Where the lane takes a packet it is the whole `receive`: the
Python method runs only for what the lane leaves to it.

Skipped where the extension is not built (the pure path is then the only one)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtp import ExtensionIds, RtpHeader, build_rtp, parse_rtp
from tests.helpers.compiled import compiled_lane
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import Uplink

pytestmark = compiled_lane

LEVEL_ID = 1
IDS = ExtensionIds(audio_level=LEVEL_ID)
SSRC = 4242


@dataclass
class Recorder:
    """A receiver that keeps what it was written (a `seam.Sink`, not a down track: the
    fan-out calls its `write`)."""

    ready: bool = True
    written: list[tuple[bytes, Any, float]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        self.written.append((bytes(template), header.vp8_ids, now))

    def skip(self, sequence_number: int) -> None:
        self.skipped.append(sequence_number)

    def start(self, feed: Any, now: float) -> None:
        feed.add_down(self)

    def awaits_media(self, now: float) -> bool:
        return True


@dataclass
class Twin:
    stream: UpStream
    levels: list[tuple[int, float]]
    sinks: list[Recorder]
    lane_took: list[int] = field(default_factory=list)  # the sequence numbers it took


def _twin(kind: str, compiled: bool) -> Twin:
    if kind == "audio":
        section = PublishedSection("0", "audio", "opus", 111, 48000, None, [])
    else:
        section = PublishedSection("1", "video", "vp8", 96, 90000, None, [])
    source = Source.MICROPHONE if kind == "audio" else Source.CAMERA
    track = UpTrack("ann", source, section, Uplink())
    stream = track.stream(SSRC, None)
    twin = Twin(stream, [], [])
    track.on_audio_level = lambda _, level, now: twin.levels.append((level, now))
    lane = stream.lane
    assert lane is not None
    if not compiled:
        stream.lane = None
    else:

        def counted(stream: UpStream, data: bytes, header: RtpHeader, now: float) -> bool:
            taken = lane(stream, data, header, now)
            if taken:
                twin.lane_took.append(header.sequence_number)
            return taken

        stream.lane = counted
    return twin


def _state(stream: UpStream) -> tuple[Any, ...]:
    stats, meter, nack, cache = stream.stats, stream.meter, stream.nack, stream.cache
    return (
        tuple(getattr(stats, name) for name in stats.__slots__),
        list(meter._buckets), meter._first, meter._index,
        None if nack is None else (nack._newest, dict(nack._missing)),
        cache._mask, list(cache._numbers), list(cache._data), list(cache._arrivals),
        stream.last_packet, stream.resumed_at, stream.picture_id, stream.tl0picidx,
        stream.width, stream.height, stream.keyframe_seq, stream.keyframe_wanted,
    )  # fmt: skip


def _vp8_payload(picture_id: int | None, wide: bool, tl0: int | None, keyframe: bool) -> bytes:
    """A VP8 payload descriptor (RFC 7741 §4.2) with the fields asked for, then a payload."""
    extension = (0x80 if picture_id is not None else 0) | (0x40 if tl0 is not None else 0)
    out = bytearray([0x90 if extension else 0x10])
    if extension:
        out.append(extension)
    if picture_id is not None:
        wide_id = bytes([0x80 | picture_id >> 8, picture_id & 0xFF])
        out += wide_id if wide else bytes([picture_id & 0x7F])
    if tl0 is not None:
        out.append(tl0)
    return bytes(out) + (vp8_keyframe_header(320, 180) if keyframe else bytes([0x01, 0x02, 0x03]))


Step = tuple[int, float, int, bool, int | None, int | None, bool, int | None, bool, bool]


def _often(common: object, *others: object, weight: int = 8) -> st.SearchStrategy[Any]:
    """``common`` ``weight`` times as likely as each of ``others``: most packets must be
    the lane's common case for the lane to be tested at all."""
    return st.sampled_from([common] * weight + list(others))


STEP = st.tuples(
    _often(1, 0, 2, -1, 5, -7, 300, weight=60),  # sequence number: next, repeat, gaps, late
    _often(0.01, 0.3, 1.5, weight=20).flatmap(lambda most: st.floats(0, most)),  # seconds
    st.integers(0, 900),  # payload bytes
    _often(False, True),  # padding only
    st.one_of(st.none(), st.integers(0, 127)),  # audio level
    st.one_of(st.none(), st.integers(0, 0x7FFF)),  # PictureID
    st.booleans(),  # 15 bits
    st.one_of(st.none(), st.integers(0, 255)),  # TL0PICIDX
    _often(False, True, weight=5),  # keyframe
    _often(False, True, weight=30),  # a receiver joins
)


def _packet(kind: str, number: int, step: Step) -> tuple[bytes, RtpHeader]:
    _, _, size, padding, level, picture_id, wide, tl0, keyframe, _ = step
    payload_type, timestamp = (111, number * 960) if kind == "audio" else (96, number * 3000)
    extensions = [] if level is None or kind != "audio" else [(LEVEL_ID, bytes([level]))]
    if padding:  # padding only: a bandwidth probe
        payload = b""
    elif kind == "audio":
        payload = bytes(size % 200 + 1)
    else:
        payload = _vp8_payload(picture_id, wide, tl0, keyframe) + bytes(size)
    data = build_rtp(
        payload_type=payload_type, sequence_number=number, timestamp=timestamp, ssrc=SSRC,
        payload=payload, extensions=extensions, padding=200 if padding else 0,
    )  # fmt: skip
    return data, parse_rtp(data, IDS)


def _run(kind: str, steps: list[Step]) -> None:
    twins = [_twin(kind, compiled) for compiled in (True, False)]
    number, now = 1000, 100.0
    for index, drawn in enumerate(steps):
        number = (number + drawn[0]) & 0xFFFF
        now += drawn[1]
        if drawn[9] or index == 0:
            for twin in twins:
                sink = Recorder()
                twin.sinks.append(sink)
                twin.stream.wait_keyframe(sink)
        step = (*drawn[:8], True, drawn[9]) if index == 0 else drawn  # the first one's keyframe
        for twin in twins:
            data, header = _packet(kind, number, step)
            twin.stream.receive(data, header, now)
        compiled, pure = twins
        assert _state(compiled.stream) == _state(pure.stream), index
        assert [s.written for s in compiled.sinks] == [s.written for s in pure.sinks], index
        assert [s.skipped for s in compiled.sinks] == [s.skipped for s in pure.sinks], index
        assert compiled.levels == pure.levels, index


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, min_size=20, max_size=80))
def test_video_the_lane_and_the_python_keep_the_same_state(steps: list[Step]) -> None:
    _run("video", steps)


@settings(max_examples=100, deadline=None)
@given(st.lists(STEP, min_size=20, max_size=80))
def test_audio_the_lane_and_the_python_keep_the_same_state(steps: list[Step]) -> None:
    _run("audio", steps)


def test_the_lane_takes_the_common_case_and_leaves_the_rest() -> None:
    """A keyframe starts the receiver (Python: someone waits), then pictures in order go
    through the lane; padding, the first packet after a silence and those that open a new
    bucket of the bitrate meter (every 100 ms) are left to the Python."""
    steady: Step = (1, 0.02, 500, False, None, 5, True, 3, False, False)
    steps: list[Step] = [
        (1, 0.02, 500, False, None, 4, True, 3, True, False),  # 2: keyframe, the receiver starts
        *[steady] * 8,  # 3-10
        (1, 0.02, 0, True, None, None, False, None, False, False),  # 11: padding
        (1, 2.0, 500, False, None, 6, True, 3, False, False),  # 12: after a silence
        *[steady] * 4,  # 13-16
    ]
    twin = _twin("video", compiled=True)
    pure = _twin("video", compiled=False)
    number, now = 1, 10.0
    for index, step in enumerate(steps):
        number += step[0]
        now += step[1]
        if index == 0:
            for each in (twin, pure):
                each.sinks.append(Recorder())
                each.stream.wait_keyframe(each.sinks[0])
        for each in (twin, pure):
            each.stream.receive(*_packet("video", number, step), now)
    steady_numbers = {*range(3, 11), *range(13, 17)}
    assert set(twin.lane_took) <= steady_numbers
    assert len(twin.lane_took) >= 9  # all but those opening a meter bucket (~1 in 5)
    assert [s.written for s in twin.sinks] == [s.written for s in pure.sinks]
    assert len(twin.sinks[0].written) == 1 + 8 + 1 + 4


def test_a_picture_numbering_out_of_the_lanes_range_is_left_to_the_python() -> None:
    """The newest PictureID held is not one the lane reads (here far past 15 bits): after
    reading the packet's IDs the lane lets go of them and leaves the packet, untouched, to
    the Python method, which handles it as any other. (Until c636bd5 this path released the
    IDs twice, found by reading the code: a release build of CPython does not notice, so
    this test runs the path but cannot catch that.)"""
    twins = [_twin("video", compiled) for compiled in (True, False)]
    steps: list[Step] = [
        (1, 0.02, 300, False, None, 7, False, 2, index == 0, False) for index in range(12)
    ]
    number, now = 50, 20.0
    for index, step in enumerate(steps):
        number += 1
        now += step[1]
        for twin in twins:
            if index == 0:
                twin.sinks.append(Recorder())
                twin.stream.wait_keyframe(twin.sinks[0])
            if index == 2:
                twin.stream.picture_id = 1 << 40
            twin.stream.receive(*_packet("video", number, step), now)
    compiled, pure = twins
    assert _state(compiled.stream) == _state(pure.stream)
    assert [s.written for s in compiled.sinks] == [s.written for s in pure.sinks]
    # 52 before the change; 53, with the numbering out of range, the Python's (which brings it
    # back to 15 bits); the lane again after.
    assert 52 in compiled.lane_took and 53 not in compiled.lane_took and 54 in compiled.lane_took
