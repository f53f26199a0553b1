"""WebM files written as packets come, with PyAV's muxer and the packets as they are.

Nothing is decoded or encoded: a VP8 frame or an Opus packet becomes one Matroska block.
The muxer runs in live mode (no seek back to patch sizes or write cues) with short clusters,
each written out as it closes: a process killed mid-recording leaves a file that plays up to
its last second. Stopping normally just closes the last cluster.

All file work happens on one writer thread per recording (`DiskWriter`): the SFU's event loop
only hands over bytes, and a slow disk never delays a packet another participant is owed.
"""

from __future__ import annotations

import logging
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av

log = logging.getLogger(__name__)

MILLISECONDS = Fraction(1, 1000)
# Frames waiting for the writer thread, at most (about a minute of a recording of ten people):
# a disk that cannot keep up loses frames (counted in `DiskWriter.dropped`), never the
# server's memory.
MAX_QUEUED = 100_000
# A crash loses at most the cluster being written: one second of media.
MUXER_OPTIONS = {
    "live": "1",
    "flush_packets": "1",
    "cluster_time_limit": "1000",
    "cluster_size_limit": "2000000",
}


class TrackFile:
    """One WebM file holding one source (VP8 video or Opus audio), on the writer thread."""

    def __init__(self, path: Path, kind: str, size: tuple[int, int] | None = None) -> None:
        self.path = path
        self.kind = kind
        self.container = av.open(str(path), "w", format="webm", options=MUXER_OPTIONS)
        stream: av.stream.Stream
        if kind == "video":
            width, height = size or (640, 360)
            stream = self.container.add_stream("libvpx", rate=30)
            stream.width, stream.height = width, height  # type: ignore[attr-defined]
            stream.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
        else:
            # The encoder is opened only for its OpusHead (Matroska's CodecPrivate).
            stream = self.container.add_stream("libopus", rate=48000, layout="stereo")
        self.stream = stream
        self.frames = 0
        self.last_pts = -1
        self.first_pts: int | None = None

    def write(self, pts_ms: int, data: bytes, keyframe: bool) -> None:
        if pts_ms <= self.last_pts:
            pts_ms = self.last_pts + 1  # Matroska wants increasing times within a track
        packet = av.Packet(data)
        packet.stream = self.stream
        packet.time_base = MILLISECONDS
        packet.pts = packet.dts = pts_ms
        packet.is_keyframe = keyframe or self.kind == "audio"
        self.container.mux(packet)
        if self.first_pts is None:
            self.first_pts = pts_ms
        self.last_pts = pts_ms
        self.frames += 1

    def close(self) -> None:
        self.container.close()


class DiskWriter:
    """The writer thread of one recording: files opened, written and closed in the order
    asked, off the event loop. ``write`` and friends only enqueue."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()  # type: ignore[type-arg]
        self._files: dict[str, TrackFile] = {}
        self.errors = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    def open(self, key: str, path: Path, kind: str, size: tuple[int, int] | None) -> None:
        self._queue.put(("open", key, path, kind, size))

    def write(self, key: str, pts_ms: int, data: bytes, keyframe: bool) -> None:
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.put(("write", key, pts_ms, data, keyframe))

    def close(self, key: str) -> None:
        self._queue.put(("close", key))

    def stop(self, timeout: float | None = None) -> None:
        """Close every file and end the thread (blocking: call it from a worker thread)."""
        self._queue.put(("stop",))
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item[0] == "stop":
                    for key in list(self._files):
                        self._close(key)
                    return
                self._do(item)
            except Exception:
                self.errors += 1
                log.exception("recording writer failed on %s", item[0])

    def _do(self, item: tuple) -> None:  # type: ignore[type-arg]
        command, key = item[0], item[1]
        if command == "open":
            self._close(key)
            self._files[key] = TrackFile(item[2], item[3], item[4])
        elif command == "write":
            file = self._files.get(key)
            if file is not None:
                file.write(item[2], item[3], item[4])
        elif command == "close":
            self._close(key)

    def _close(self, key: str) -> None:
        file = self._files.pop(key, None)
        if file is not None:
            file.close()
