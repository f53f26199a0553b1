"""``python -m bench.recorder``: the CPU the recorder adds per recorded packet.

Feeds one camera (20 fps, 5 packets of 1,100 bytes a frame) and one microphone (50 packets
of 120 bytes a second) through real up streams, each with one other receiver, without and then
with a recorder writing real WebM files, and reports per packet: the event loop's extra time
(the `Sink.write` path: a payload copy, VP8 frame assembly), and the writer thread's (PyAV's
muxer and the disk), from the whole process's CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.recorder import Recorder
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtp import ExtensionIds, RtpHeader, build_rtp, parse_rtp


class _Uplink:
    def request_keyframe(self, ssrc: int) -> None:
        pass

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        pass


class _Other:
    """Another receiver: stamps nothing, keeps nothing (the recorder's cost is the point)."""

    ready = True

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        pass

    def skip(self, sequence_number: int) -> None:
        pass

    def start(self, feed: UpStream, now: float) -> None:
        feed.add_down(self)

    def detach(self) -> None:
        pass

    def awaits_media(self, now: float) -> bool:
        return True


def _keyframe_payload(size: int) -> bytes:
    header = bytes([0x10, 0x10, 0x02, 0x00]) + b"\x9d\x01\x2a"
    return header + (640).to_bytes(2, "little") + (360).to_bytes(2, "little") + bytes(size)


def packets(seconds: float) -> tuple[list[tuple[str, float, bytes]], int]:
    """(kind, arrival, RTP packet) in arrival order."""
    out = []
    frame_packets = 5
    for frame in range(int(seconds * 20)):
        t = frame / 20
        for index in range(frame_packets):
            if index == 0:
                payload = _keyframe_payload(1090) if frame % 100 == 0 else b"\x10\x01" + bytes(1098)
            else:
                payload = b"\x00" + bytes(1099)
            data = build_rtp(
                payload_type=96, sequence_number=(frame * frame_packets + index) & 0xFFFF,
                timestamp=frame * 4500, ssrc=1, payload=payload,
                marker=index == frame_packets - 1,
            )  # fmt: skip
            out.append(("video", t, data))
    for index in range(int(seconds * 50)):
        data = build_rtp(
            payload_type=111, sequence_number=index & 0xFFFF, timestamp=index * 960, ssrc=2,
            payload=bytes(120),
        )  # fmt: skip
        out.append(("audio", index / 50, data))
    out.sort(key=lambda item: item[1])
    return out, len(out)


async def run(seconds: float, record: bool, directory: Path) -> tuple[float, float, int]:
    """Event-loop seconds spent receiving, process CPU seconds in all, packets."""
    tracks = {}
    streams = {}
    for kind, source, pt, rate, ssrc in (
        ("video", Source.CAMERA, 96, 90000, 1),
        ("audio", Source.MICROPHONE, 111, 48000, 2),
    ):
        section = PublishedSection(
            "0", kind, "VP8" if kind == "video" else "opus", pt, rate, None, []
        )
        track = UpTrack("ann", source, section, _Uplink())
        stream = track.stream(ssrc, None)
        stream.add_down(_Other())  # type: ignore[arg-type]
        tracks[("ann", source)] = track
        streams[kind] = stream
    clock = [0.0]
    router = SimpleNamespace(tracks=tracks, clock=lambda: clock[0])
    recorder = Recorder(router, "bench", directory, lambda pid: pid)  # type: ignore[arg-type]
    feed, count = packets(seconds)
    parsed = [(kind, t, data, parse_rtp(data, ExtensionIds())) for kind, t, data in feed]
    cpu = time.process_time()
    if record:
        await recorder.start()
    loop_time = 0.0
    for kind, t, data, header in parsed:
        clock[0] = t
        started = time.perf_counter()
        streams[kind].receive(data, header, t)
        loop_time += time.perf_counter() - started
    if record:
        await recorder.stop()
    return loop_time, time.process_time() - cpu, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="media time fed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        base_loop, base_cpu, count = asyncio.run(run(args.seconds, False, Path(directory)))
        loop, cpu, _ = asyncio.run(run(args.seconds, True, Path(directory)))
        size = sum(p.stat().st_size for p in Path(directory).glob("*.webm"))
    print(f"{count} packets ({args.seconds:.0f} s of 640x360 20 fps video and Opus audio)")
    print(f"event loop: {(loop - base_loop) / count * 1e6:.1f} µs added per packet")
    print(f"all threads: {(cpu - base_cpu) / count * 1e6:.1f} µs added per packet")
    print(f"files: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
