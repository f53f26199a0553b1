"""What every bot has, whichever server it joins: its media, its tally, its report."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiortc import MediaStreamTrack

from mosaic.bots.counting import PacketTally, by_kind
from mosaic.bots.modes import MediaMode
from mosaic.bots.tracks import ReplayAudioTrack, ReplayVideoTrack

__all__ = ["Bot", "BotReport", "MediaMode", "Tracks", "loopback_addresses", "report_of"]


@dataclass
class Tracks:
    audio: ReplayAudioTrack | None = None
    video: ReplayVideoTrack | None = None

    @classmethod
    def for_mode(cls, mode: MediaMode) -> Tracks:
        if mode is MediaMode.NONE:
            return cls()
        return cls(
            audio=ReplayAudioTrack(),
            video=ReplayVideoTrack() if mode is MediaMode.VIDEO else None,
        )

    def as_dict(self) -> dict[str, MediaStreamTrack]:
        return {k: t for k, t in (("audio", self.audio), ("video", self.video)) if t}

    def stop(self) -> None:
        for track in self.as_dict().values():
            track.stop()


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
