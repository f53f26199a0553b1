"""A clapperboard for recordings: a camera and a microphone on one clock that flash and click
at the same instant, so a recording's audio/video alignment can be measured from the files."""

from __future__ import annotations

import asyncio
import fractions
import time

import av
from aiortc.mediastreams import MediaStreamTrack

VIDEO_CLOCK = 90000
AUDIO_RATE = 48000
AUDIO_FRAME = 960  # 20 ms


class Clapper:
    """The shared clock: media time 0 is ``origin``; the clap lasts ``length`` seconds from
    each multiple of ``every`` seconds (so a recording started at any moment holds some)."""

    def __init__(self, every: float = 3.0, length: float = 0.2) -> None:
        self.origin = time.monotonic()
        self.every = every
        self.length = length

    def clapping(self, media_time: float) -> bool:
        return media_time > 0.5 and media_time % self.every < self.length


class _Paced(MediaStreamTrack):
    period = 0.05

    def __init__(self, clapper: Clapper) -> None:
        super().__init__()
        self.clapper = clapper
        self.index: int | None = None

    async def _next(self) -> float:
        """Media time of the next frame, paced in real time (frames skipped to keep up)."""
        now = time.monotonic() - self.clapper.origin
        if self.index is None:
            self.index = int(now / self.period) + 1
        else:
            self.index += 1
        due = self.index * self.period
        await asyncio.sleep(max(0.0, due - now))
        return due


class ClapVideoTrack(_Paced):
    """20 frames a second, black, white while clapping."""

    kind = "video"
    period = 0.05

    def __init__(self, clapper: Clapper, width: int = 320, height: int = 180) -> None:
        super().__init__(clapper)
        self.width, self.height = width, height

    async def recv(self) -> av.VideoFrame:
        media_time = await self._next()
        luma = 235 if self.clapper.clapping(media_time) else 16
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(bytes([luma]) * (self.width * self.height))
        chroma = bytes([128]) * ((self.width // 2) * (self.height // 2))
        frame.planes[1].update(chroma)
        frame.planes[2].update(chroma)
        frame.pts = self.index * VIDEO_CLOCK // 20  # type: ignore[operator]
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        return frame


class ClapAudioTrack(_Paced):
    """Silence, and a loud square wave while clapping (20 ms frames)."""

    kind = "audio"
    period = 0.02

    async def recv(self) -> av.AudioFrame:
        media_time = await self._next()
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
        if self.clapper.clapping(media_time):
            cycle = b"\x00\x60" * 24 + b"\x00\xa0" * 24  # 1 kHz, about -2 dBFS
            data = cycle * (AUDIO_FRAME // 48)
        else:
            data = bytes(2 * AUDIO_FRAME)
        frame.planes[0].update(data)
        frame.sample_rate = AUDIO_RATE
        frame.pts = self.index * AUDIO_FRAME  # type: ignore[operator]
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        return frame
