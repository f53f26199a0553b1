"""What every bot has, whichever server it joins: its media, its tally, its report."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiortc import MediaStreamTrack

from mosaic.bots.clips import layer_clips
from mosaic.bots.counting import PacketTally, by_kind
from mosaic.bots.modes import MediaMode
from mosaic.bots.tracks import ReplayAudioTrack, ReplayVideoTrack
from mosaic.client.simulcast import Simulcast
from mosaic.tasks import TaskSet

__all__ = [
    "BaseBot",
    "Bot",
    "BotReport",
    "MediaMode",
    "Tracks",
    "loopback_addresses",
    "report_of",
]


@dataclass
class Tracks:
    """What a bot publishes. ``video`` is the camera (its largest layer when ``layers``
    sends it in simulcast, as the web client does: see `mosaic.bots.clips.LAYERS`)."""

    audio: ReplayAudioTrack | None = None
    video: ReplayVideoTrack | None = None
    layers: Simulcast | None = None

    @classmethod
    def for_mode(cls, mode: MediaMode, *, simulcast: bool = False) -> Tracks:
        if mode is MediaMode.NONE:
            return cls()
        if mode is not MediaMode.VIDEO:
            return cls(audio=ReplayAudioTrack())
        if not simulcast:
            return cls(audio=ReplayAudioTrack(), video=ReplayVideoTrack())
        layers = Simulcast({rid: ReplayVideoTrack(clip) for rid, clip in layer_clips().items()})
        _, top = layers.top
        assert isinstance(top, ReplayVideoTrack)
        return cls(audio=ReplayAudioTrack(), video=top, layers=layers)

    @property
    def camera(self) -> ReplayVideoTrack | Simulcast | None:
        """What goes out as the camera: the layers, or the one track."""
        return self.layers if self.layers is not None else self.video

    def as_dict(self) -> dict[str, MediaStreamTrack]:
        return {k: t for k, t in (("audio", self.audio), ("video", self.video)) if t}

    def stop(self) -> None:
        for track in self.as_dict().values():
            track.stop()
        if self.layers is not None:
            self.layers.stop()


@dataclass
class BotReport:
    """One bot's figures, JSON-ready."""

    name: str
    joined: bool = False
    error: str | None = None
    join_s: float | None = None  # join request -> joined (and publishing, when it does)
    packets: int = 0
    octets: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    frames_decoded: int = 0
    keyframes_requested: int = 0
    keyframes_sent: int = 0
    audio_sent: int = 0
    video_sent: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def report_of(
    name: str, tally: PacketTally, names: dict[int, str], tracks: Tracks, **fields: Any
) -> BotReport:
    report = BotReport(
        name,
        packets=tally.packets,
        octets=tally.octets,
        kinds=by_kind(tally, names),
        **fields,
    )
    if tracks.video is not None:
        report.keyframes_requested = tracks.video.keyframes_requested
        report.keyframes_sent = tracks.video.keyframes_sent
        report.video_sent = tracks.video.sent
    if tracks.audio is not None:
        report.audio_sent = tracks.audio.sent
    return report


class Bot(Protocol):
    """A participant that publishes replayed media and counts what it receives."""

    name: str
    error: str | None

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def received(self) -> int: ...
    def report(self) -> BotReport: ...


class BaseBot:
    """The state and the work a bot has whichever server it joins: what it publishes and
    counts, how its background tasks fail, how it decodes when asked to, what it reports.

    ``url`` is the server's (a meeting link, Janus's API): on this machine's loopback the bot
    gathers ICE candidates on 127.0.0.1 (see `loopback_addresses`) unless told otherwise.
    ``simulcast``: the camera in the web client's three layers (`Tracks.for_mode`)."""

    def __init__(
        self,
        url: str,
        name: str,
        *,
        mode: MediaMode = MediaMode.VIDEO,
        decode: bool = False,
        local_addresses: list[str] | None = None,
        simulcast: bool = False,
    ) -> None:
        self.name = name
        self.mode = mode
        self.decode = decode
        self.local_addresses = local_addresses or loopback_addresses(url)
        self.tracks = Tracks.for_mode(mode, simulcast=simulcast)
        self.tally = PacketTally()
        self.error: str | None = None
        self.join_s: float | None = None  # join request -> joined (and publishing)
        self.frames_decoded = 0
        self.first_frame_at: float | None = None
        self.first_frame = asyncio.Event()
        self._tasks = TaskSet(on_error=self._failed)

    def _failed(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        self._tasks.spawn(coroutine)

    async def _drain(self, track: Any) -> None:
        """Decode a remote video (``decode=True``): aiortc queues frames until read."""
        with contextlib.suppress(Exception):
            while True:
                await track.recv()
                self.frames_decoded += 1
                if self.first_frame_at is None:
                    self.first_frame_at = time.monotonic()
                    self.first_frame.set()

    def _stop_media(self) -> None:
        """Stop what runs in the background and what is published (before hanging up)."""
        self._tasks.cancel()
        self.tracks.stop()

    def _report(self, names: dict[int, str], *, joined: bool) -> BotReport:
        """This bot's figures; ``names`` maps received payload types to codec names."""
        return report_of(
            self.name,
            self.tally,
            names,
            self.tracks,
            joined=joined,
            error=self.error,
            join_s=self.join_s,
            frames_decoded=self.frames_decoded,
        )


def loopback_addresses(url: str) -> list[str] | None:
    """["127.0.0.1"] when the server is on this machine's loopback (aioice leaves loopback
    out of its candidates unless told); None (every interface) otherwise."""
    host = urlsplit(url).hostname or ""
    try:
        return (
            ["127.0.0.1"] if host == "localhost" or ipaddress.ip_address(host).is_loopback else None
        )
    except ValueError:
        return None
