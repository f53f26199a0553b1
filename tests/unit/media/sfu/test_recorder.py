"""The recorder as a `seam.Sink` on real up streams, writing real files: it starts at a
keyframe, writes no frame with a hole in it, starts a new file on a new resolution, and
changes nothing another receiver of the same stream gets."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import av

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.recorder import Recorder
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtp import ExtensionIds, build_rtp, parse_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import Sink, Uplink

SSRC = 2222
INTER = bytes([0x10, 0x01, 0x00, 0x00])  # S=1, PID 0; frame tag with P=1: an interframe
MIDDLE = bytes([0x00, 0xAA, 0xBB])  # a continuation packet (S=0)


class Copying(Sink):
    """Another receiver: keeps the bytes of every template written to it."""

    def __init__(self) -> None:
        super().__init__()
        self.packets: list[bytes] = []

    def write(self, template, header, now) -> None:  # type: ignore[no-untyped-def]
        super().write(template, header, now)
        self.packets.append(bytes(template))


def camera() -> tuple[UpTrack, UpStream, Uplink]:
    uplink = Uplink()
    section = PublishedSection("0", "video", "VP8", 96, 90000, None, [])
    track = UpTrack("ann", Source.CAMERA, section, uplink)
    return track, track.stream(SSRC, None), uplink


def send(stream: UpStream, seq: int, frame: int, payload: bytes, marker: bool, now: float) -> None:
    data = build_rtp(
        payload_type=96,
        sequence_number=seq,
        timestamp=frame * 4500,  # 20 fps
        ssrc=SSRC,
        payload=payload,
        marker=marker,
    )
    stream.receive(data, parse_rtp(data, ExtensionIds()), now)


def frames(
    stream: UpStream,
    first_seq: int,
    first_frame: int,
    count: int,
    now: float,
    keyframe: bytes | None = None,
    lose: int | None = None,
) -> float:
    """``count`` frames of two packets each, 50 ms apart; ``lose`` a sequence number."""
    seq = first_seq
    for index in range(count):
        start = keyframe if index == 0 and keyframe else INTER
        for payload, marker in ((start, False), (MIDDLE, True)):
            if seq != lose:
                send(stream, seq, first_frame + index, payload, marker, now)
            seq += 1
        now += 0.05
    return now


def recorder_of(track: UpTrack, directory: Path, clock: list[float]) -> Recorder:
    router = SimpleNamespace(tracks={("ann", Source.CAMERA): track}, clock=lambda: clock[0])
    return Recorder(router, "m1", directory, lambda pid: "Ann")  # type: ignore[arg-type]


def blocks(path: Path) -> list[tuple[float, bool]]:
    """Each block of a WebM file: its time and whether it is marked a keyframe."""
    with av.open(str(path)) as container:
        return [
            (float(p.pts * p.time_base), p.is_keyframe)  # type: ignore[operator]
            for p in container.demux()
            if p.size
        ]


async def test_recording_starts_at_a_keyframe_it_asks_for(tmp_path: Path) -> None:
    track, stream, uplink = camera()
    clock = [0.0]
    recorder = recorder_of(track, tmp_path, clock)
    await recorder.start()
    assert uplink.keyframe_requests == [SSRC]  # asked at once
    now = frames(stream, 1, 0, 3, 0.0)  # interframes: nothing to start from
    now = frames(stream, 7, 3, 5, now, keyframe=INTER[:1] + vp8_keyframe_header(640, 360))
    manifest = json.loads((await recorder.stop()).read_text())
    (entry,) = manifest["files"]
    assert (entry["width"], entry["height"], entry["frames"]) == (640, 360, 5)
    written = blocks(tmp_path / entry["file"])
    assert [key for _, key in written] == [True, False, False, False, False]
    assert [round(t, 2) for t, _ in written] == [0.0, 0.05, 0.1, 0.15, 0.2]


async def test_a_hole_never_repaired_is_skipped_to_the_next_keyframe(tmp_path: Path) -> None:
    """Packet 6 is lost for good: frames 3.. (which need it) are not written, a keyframe
    is asked for, and recording resumes at it."""
    track, stream, uplink = camera()
    clock = [0.0]
    recorder = recorder_of(track, tmp_path, clock)
    await recorder.start()
    key = INTER[:1] + vp8_keyframe_header(320, 180)
    now = frames(stream, 1, 0, 16, 0.0, keyframe=key, lose=6)  # frames 0-1 whole
    assert len(uplink.keyframe_requests) == 2  # the hole was given up after 0.5 s
    frames(stream, 33, 16, 4, now + 0.4, keyframe=key)
    manifest = json.loads((await recorder.stop()).read_text())
    written = blocks(tmp_path / manifest["files"][0]["file"])
    assert [(round(t, 2), k) for t, k in written] == [
        (0.0, True), (0.05, False), (0.8, True), (0.85, False), (0.9, False), (0.95, False),
    ]  # fmt: skip


async def test_a_hole_repaired_in_time_loses_nothing(tmp_path: Path) -> None:
    track, stream, uplink = camera()
    clock = [0.0]
    recorder = recorder_of(track, tmp_path, clock)
    await recorder.start()
    now = frames(stream, 1, 0, 6, 0.0, keyframe=INTER[:1] + vp8_keyframe_header(320, 180), lose=4)
    send(stream, 4, 1, MIDDLE, True, now)  # the NACKed packet comes back (RTX, unwrapped)
    manifest = json.loads((await recorder.stop()).read_text())
    assert manifest["files"][0]["frames"] == 6
    assert len(uplink.keyframe_requests) == 1  # only the first one


async def test_a_new_resolution_starts_a_new_file(tmp_path: Path) -> None:
    track, stream, _ = camera()
    clock = [0.0]
    recorder = recorder_of(track, tmp_path, clock)
    await recorder.start()
    now = frames(stream, 1, 0, 3, 0.0, keyframe=INTER[:1] + vp8_keyframe_header(640, 360))
    frames(stream, 7, 3, 3, now, keyframe=INTER[:1] + vp8_keyframe_header(320, 180))
    manifest = json.loads((await recorder.stop()).read_text())
    sizes = [(f["width"], f["height"], f["frames"]) for f in manifest["files"]]
    assert sizes == [(640, 360, 3), (320, 180, 3)]
    assert manifest["participants"] == [{"id": "ann", "name": "Ann"}]
    for entry in manifest["files"]:
        assert blocks(tmp_path / entry["file"])[0][1]  # each starts with a keyframe


async def test_another_receiver_gets_the_same_packets_with_a_recorder_or_without(
    tmp_path: Path,
) -> None:
    received = []
    for recording in (False, True):
        track, stream, _ = camera()
        other = Copying()
        stream.add_down(other)
        recorder = recorder_of(track, tmp_path / str(recording), [0.0])
        if recording:
            await recorder.start()
        frames(stream, 1, 0, 20, 0.0, keyframe=INTER[:1] + vp8_keyframe_header(320, 180), lose=9)
        if recording:
            await recorder.stop()
            assert stream.downs == [other]  # the recorder let go
        received.append((other.written, other.packets))
    assert received[0] == received[1]


async def test_a_recording_stopped_before_it_started_leaves_an_empty_manifest(
    tmp_path: Path,
) -> None:
    track, _, _ = camera()
    recorder = recorder_of(track, tmp_path / "r", [0.0])
    manifest = json.loads((await recorder.stop()).read_text())
    assert (manifest["files"], manifest["participants"]) == ([], [])


async def test_the_largest_layer_is_recorded_and_a_layer_change_starts_a_new_file(
    tmp_path: Path,
) -> None:
    """Simulcast: the high layer is recorded while it flows; when the publisher stops it,
    the recorder moves to the low layer at its next keyframe, in a new file."""
    uplink = Uplink()
    section = PublishedSection("0", "video", "VP8", 96, 90000, None, ["l", "h"])
    track = UpTrack("ann", Source.CAMERA, section, uplink)
    low, high = track.stream(1, "l"), track.stream(2, "h")
    clock = [0.0]
    recorder = recorder_of(track, tmp_path, clock)

    def both(first_seq: int, first_frame: int, count: int, now: float, high_too: bool) -> float:
        for index in range(count):
            for stream, size in ((low, (320, 180)), (high, (1280, 720))):
                if stream is high and not high_too:
                    continue
                key = index % 15 == 0
                start = INTER[:1] + vp8_keyframe_header(*size) if key else INTER
                seq = first_seq + 2 * index
                for offset, (payload, marker) in enumerate(((start, False), (MIDDLE, True))):
                    data = build_rtp(
                        payload_type=96, sequence_number=seq + offset,
                        timestamp=(first_frame + index) * 4500, ssrc=stream.ssrc,
                        payload=payload, marker=marker,
                    )  # fmt: skip
                    stream.receive(data, parse_rtp(data, ExtensionIds()), now)
            now += 0.05
            clock[0] = now
            if index % 5 == 4:
                recorder.follow()
        return now

    now = both(1, 0, 2, 0.0, True)  # both layers flow before the recording starts
    await recorder.start()
    now = both(5, 2, 10, now + 0.4, True)  # from the high layer's keyframe
    both(25, 12, 30, now, False)  # the high layer stopped: the low one, at a keyframe
    manifest = json.loads((await recorder.stop()).read_text())
    sizes = [(f["width"], f["height"]) for f in manifest["files"]]
    assert sizes == [(1280, 720), (320, 180)]
    # The high layer's cached keyframe (0.1 s old) and the frame after it, then ten more.
    assert manifest["files"][0]["frames"] == 12
