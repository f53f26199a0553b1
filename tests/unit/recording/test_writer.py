"""The WebM writer: packets muxed as they are, and files that survive the writer's death."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[3]

# A child process encodes 3 s of VP8 (20 fps) and Opus (20 ms), hands every packet to the
# recording writer as the recorder would, says so and waits to be killed.
WRITER_SCRIPT = textwrap.dedent(
    """
    import fractions, sys, time
    from pathlib import Path
    import av
    from mosaic.recording.writer import DiskWriter

    out = Path(sys.argv[1])
    video = av.CodecContext.create("libvpx", "w")
    video.width, video.height, video.pix_fmt = 320, 180, "yuv420p"
    video.time_base = fractions.Fraction(1, 20)
    audio = av.CodecContext.create("libopus", "w")
    audio.sample_rate, audio.layout, audio.format = 48000, "mono", "s16"
    writer = DiskWriter()
    writer.open("v", out / "video.webm", "video", (320, 180))
    writer.open("a", out / "audio.webm", "audio", None)
    for i in range(60):
        frame = av.VideoFrame(320, 180, "yuv420p")
        frame.planes[0].update(bytes([(i * 4) % 256]) * (320 * 180))
        frame.pts = i
        for packet in video.encode(frame):
            writer.write("v", i * 50, bytes(packet), packet.is_keyframe)
    for i in range(150):
        frame = av.AudioFrame(format="s16", layout="mono", samples=960)
        frame.planes[0].update(bytes(1920))
        frame.sample_rate, frame.pts = 48000, i * 960
        for packet in audio.encode(frame):
            writer.write("a", i * 20, bytes(packet), True)
    time.sleep(1.0)  # the writer thread catches up; nothing is closed
    print("written", flush=True)
    time.sleep(60)
    """
)


def decoded(path: Path) -> tuple[int, float, bool]:
    """Frames decoded, the last one's time, and whether the first packet is a keyframe."""
    with av.open(str(path)) as container:
        first = next(p for p in container.demux() if p.size)
        key = first.is_keyframe
    with av.open(str(path)) as container:
        frames = list(container.decode(container.streams[0]))
    return len(frames), float(frames[-1].time) if frames else 0.0, key


def test_a_writer_killed_mid_recording_leaves_playable_files(tmp_path: Path) -> None:
    """SIGKILL while files are open (no trailer, no close): both files still open and decode,
    from a keyframe, up to about their last second. Without flushed live-mode clusters the
    muxer's buffers die with the process and the files are empty."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "written"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    frames, last, key = decoded(tmp_path / "video.webm")
    assert key and frames >= 35 and last >= 1.8, (frames, last)
    frames, last, _ = decoded(tmp_path / "audio.webm")
    assert frames >= 90 and last >= 1.8, (frames, last)


def test_stopping_the_writer_finalizes_every_file(tmp_path: Path) -> None:
    """Packets written as they are: the frames that went in come out, times kept."""
    from mosaic.recording.writer import DiskWriter

    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 90, "yuv420p"
    encoder.time_base = __import__("fractions").Fraction(1, 10)
    writer = DiskWriter()
    writer.open("v", tmp_path / "v.webm", "video", (160, 90))
    count = 0
    for i in range(20):
        frame = av.VideoFrame(160, 90, "yuv420p")
        frame.pts = i
        for packet in encoder.encode(frame):
            writer.write("v", i * 100, bytes(packet), packet.is_keyframe)
            count += 1
    writer.stop(timeout=10)
    frames, last, key = decoded(tmp_path / "v.webm")
    assert (frames, round(last, 2), key) == (count, 1.9, True)
    assert writer.errors == 0


def test_a_disk_that_cannot_keep_up_costs_frames_not_memory(tmp_path: Path, monkeypatch) -> None:
    """The writer thread is stuck (its file is a FIFO nobody reads): what it owes stops
    growing at the cap, and the rest is counted as dropped."""
    from mosaic.recording import writer as module

    monkeypatch.setattr(module, "MAX_QUEUED", 10)
    stuck = tmp_path / "stuck.webm"
    os.mkfifo(stuck)
    writer = module.DiskWriter()
    writer.open("v", stuck, "video", (160, 90))
    try:
        for i in range(50):
            writer.write("v", i * 50, bytes(100), i == 0)
        backlog, dropped = writer._queue.qsize(), writer.dropped
    finally:
        reader = os.open(stuck, os.O_RDONLY | os.O_NONBLOCK)  # let the thread go
        writer.stop(timeout=10)
        os.close(reader)
    assert backlog <= 10
    assert dropped >= 39
