"""Tracks that replay a `Clip` as pre-encoded packets, and the sender hooks they need.

aiortc's `RTCRtpSender` packetizes an `av.Packet` returned by a track's ``recv()`` without
encoding it (``Encoder.pack``), so a replaying bot costs a few microseconds per packet. Two
things aiortc only does when it encodes, the hooks in `bind_sender` restore:

- a keyframe request (PLI/FIR) sets a flag that only its encoder reads: the hook sends it to
  `ReplayVideoTrack.request_keyframe`, which jumps back to the clip's keyframe;
- the audio-level header extension (RFC 6464) is computed from the PCM it encodes: the hook
  writes the level recorded with each pre-encoded Opus packet instead.

Both hooks are the bridge's (`mosaic.rtc.aiortc_bridge.on_keyframe_request` and
`set_audio_level`), on one sender instance; nothing global changes.
"""

from __future__ import annotations

import asyncio
import fractions
import random
import time

import av
from aiortc import MediaStreamTrack, RTCRtpSender

from mosaic.bots.clips import Clip, audio_clip, video_clip
from mosaic.rtc.aiortc_bridge import on_keyframe_request, set_audio_level

VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
# Chromium ignores keyframe requests within 300 ms of the last one; a bot does not ignore
# them (that would stall a subscriber until the loop comes round) but defers them as long.
KEYFRAME_MIN_INTERVAL = 0.3
# A bot that fell this far behind its schedule (a starved event loop) starts afresh rather
# than sending the backlog in a burst.
MAX_LAG_S = 0.5


class ReplayTrack(MediaStreamTrack):
    """Sends a clip's frames in a loop at their real pace, with continuous timestamps."""

    def __init__(self, clip: Clip, clock_rate: int, *, start: int = 0) -> None:
        super().__init__()
        self.clip = clip
        self.clock_rate = clock_rate
        self.ticks = round(clip.frame_duration * clock_rate)
        self.time_base = fractions.Fraction(1, clock_rate)
        self.index = start % len(clip.frames)
        self.sent = 0
        self._epoch: float | None = None
        self._count = 0

    async def _pace(self) -> None:
        now = time.monotonic()
        if self._epoch is None:
            self._epoch = now
        due = self._epoch + self._count * self.clip.frame_duration
        if due > now:
            await asyncio.sleep(due - now)
        elif now - due > MAX_LAG_S:
            self._epoch = now - self._count * self.clip.frame_duration

    def _packet(self, data: bytes) -> av.Packet:
        packet = av.Packet(data)
        packet.pts = self._count * self.ticks
        packet.time_base = self.time_base
        self._count += 1
        self.sent += 1
        return packet

    async def recv(self) -> av.Packet:
        await self._pace()
        frame = self.clip.frames[self.index]
        self.index = (self.index + 1) % len(self.clip.frames)
        return self._packet(frame.data)


class ReplayVideoTrack(ReplayTrack):
    """The VP8 clip; a keyframe request restarts it at its keyframe (within 300 ms)."""

    kind = "video"

    def __init__(self, clip: Clip | None = None, *, start: int = 0) -> None:
        super().__init__(clip or video_clip(), VIDEO_CLOCK, start=start)
        self.keyframes_requested = 0
        self.keyframes_sent = 0
        self._wanted = False
        self._last_keyframe = -1e9

    def request_keyframe(self) -> None:
        self.keyframes_requested += 1
        self._wanted = True

    async def recv(self) -> av.Packet:
        await self._pace()
        now = time.monotonic()
        if self._wanted and now - self._last_keyframe >= KEYFRAME_MIN_INTERVAL:
            self._wanted = False
            self.index = 0
        frame = self.clip.frames[self.index]
        if frame.keyframe:
            self._last_keyframe = now
            self.keyframes_sent += 1
        self.index = (self.index + 1) % len(self.clip.frames)
        return self._packet(frame.data)


class ReplayAudioTrack(ReplayTrack):
    """The Opus clip, from a random point so that bots do not all talk at once; ``level``
    is the last packet's level (-dBov) for the sender hook."""

    kind = "audio"

    def __init__(self, clip: Clip | None = None, *, start: int | None = None) -> None:
        clip = clip or audio_clip()
        begin = random.randrange(len(clip.frames)) if start is None else start
        super().__init__(clip, AUDIO_CLOCK, start=begin)
        self.level = 127

    async def recv(self) -> av.Packet:
        await self._pace()
        frame = self.clip.frames[self.index]
        self.level = frame.level
        self.index = (self.index + 1) % len(self.clip.frames)
        return self._packet(frame.data)


def bind_sender(sender: RTCRtpSender, track: MediaStreamTrack) -> None:
    """Route a sender's keyframe requests to a replayed video track, or write a replayed
    audio track's levels into the audio-level extension (see the module docstring)."""
    if isinstance(track, ReplayVideoTrack):
        on_keyframe_request(sender, track.request_keyframe)
    elif isinstance(track, ReplayAudioTrack):
        set_audio_level(sender, lambda: track.level)
