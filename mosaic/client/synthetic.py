"""Synthetic camera and microphone for the Python client: something to see and hear without
devices (tests, bots, demos)."""

from __future__ import annotations

import array
import asyncio
import fractions
import math
import time

import av
from aiortc.mediastreams import AUDIO_PTIME, VIDEO_CLOCK_RATE, MediaStreamTrack

AUDIO_RATE = 48000


class PatternVideoTrack(MediaStreamTrack):
    """Moving grey-level bars at ``fps`` frames per second (I420, no extra dependency)."""

    kind = "video"

    def __init__(self, width: int = 640, height: int = 360, fps: int = 20, shade: int = 0) -> None:
        super().__init__()
        self.width, self.height, self.fps, self.shade = width, height, fps, shade
        self._start: float | None = None
        self._frames = 0
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._frames / self.fps
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        shift = (self._frames * 4) % self.width
        row = bytes(
            (((x + shift) * 256 // self.width) + self.shade) % 256 for x in range(self.width)
        )
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(row * self.height)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = int(self._frames * VIDEO_CLOCK_RATE / self.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK_RATE)
        self._frames += 1
        return frame


class ToneAudioTrack(MediaStreamTrack):
    """A tone that speaks in bursts (``talk_s`` on, ``pause_s`` off), so audio levels and
    speaker detection have something real to measure."""

    kind = "audio"

    def __init__(
        self, frequency: float = 440.0, talk_s: float = 2.0, pause_s: float = 0.0, gain: float = 0.3
    ) -> None:
        super().__init__()
        self.frequency, self.talk_s, self.pause_s, self.gain = frequency, talk_s, pause_s, gain
        self._start: float | None = None
        self._samples = 0

    async def recv(self) -> av.AudioFrame:
        count = int(AUDIO_PTIME * AUDIO_RATE)
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / AUDIO_RATE
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        elapsed = self._samples / AUDIO_RATE
        cycle = self.talk_s + self.pause_s
        gain = self.gain if self.pause_s == 0 or (elapsed % cycle) < self.talk_s else 0.0
        step = 2 * math.pi * self.frequency / AUDIO_RATE
        pcm = array.array(
            "h", (int(32767 * gain * math.sin(step * (self._samples + i))) for i in range(count))
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(pcm.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._samples += count
        return frame
