"""A bot in a Mosaic meeting, built on `mosaic.client` as any Python participant is."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from typing import Any

from aiortc import MediaStreamTrack

from mosaic.bots.base import BaseBot, BotReport, MediaMode
from mosaic.bots.counting import codec_names, count_at_socket
from mosaic.bots.tracks import bind_sender
from mosaic.client import Participant, join
from mosaic.rtc.aiortc_bridge import ice_connection

# What a bot says it shows of each other participant: every camera at the clip's size...
VIEW_SIZE = (640, 360)
# ... or, viewing a page of tiles as the web client's gallery does (``view_tiles``), at most
# this many at thumbnail size, which the SFU fills from a simulcast camera's quarter layer.
MAX_PAGE_TILES = 49
THUMBNAIL_SIZE = (160, 90)
VIEW_DEBOUNCE_S = 0.2


class MosaicBot(BaseBot):
    def __init__(
        self,
        join_url: str,
        name: str,
        *,
        passcode: str | None = None,
        cookies: dict[str, str] | None = None,
        mode: MediaMode = MediaMode.VIDEO,
        decode: bool = False,
        local_addresses: list[str] | None = None,
        simulcast: bool = False,
        view_tiles: int = 0,
    ) -> None:
        """``simulcast``: publish the camera in three layers; ``view_tiles``: view a page of
        that many tiles (at most `MAX_PAGE_TILES`) at thumbnail size, 0: every camera at full
        size."""
        super().__init__(
            join_url,
            name,
            mode=mode,
            decode=decode,
            local_addresses=local_addresses,
            simulcast=simulcast,
        )
        if not 0 <= view_tiles <= MAX_PAGE_TILES:
            raise ValueError(f"a page holds 1 to {MAX_PAGE_TILES} tiles")
        self.view_tiles = view_tiles
        self.join_url = join_url
        self.passcode = passcode
        self.cookies = cookies
        self.participant: Participant | None = None
        self._counted: weakref.WeakSet[Any] = weakref.WeakSet()  # hooked ICE connections
        self._view_due = False

    async def start(self) -> None:
        started = time.monotonic()
        participant = await join(
            self.join_url,
            name=self.name,
            passcode=self.passcode,
            cookies=self.cookies,
            decode=self.decode,
            local_addresses=self.local_addresses,
        )
        self.participant = participant
        participant.media.on_track(self._on_track)
        participant.on("roster", lambda _: self._schedule_view())
        if participant.state != "joined":
            await participant.wait_admitted()
        tracks = self.tracks
        if tracks.audio or tracks.video:
            # Each sender replays its own track (a simulcast layer's sender too).
            participant.media.on_sender(
                lambda source, sender: (
                    bind_sender(sender, sender.track) if sender.track is not None else None
                )
            )
            await participant.publish(audio=tracks.audio, video=tracks.camera)
        self.join_s = time.monotonic() - started
        self._schedule_view()

    # -- receiving -----------------------------------------------------------------------------

    def _on_track(self, mid: str, track: MediaStreamTrack) -> None:
        assert self.participant is not None
        if self.decode:
            if track.kind == "video":
                self._spawn(self._drain(track))
            return
        pc = self.participant.media.subscriber
        connection = ice_connection(pc) if pc is not None else None
        if connection is not None and connection not in self._counted:
            self._counted.add(connection)
            count_at_socket(connection, self.tally)

    def received(self) -> int:
        if self.decode and self.participant is not None:
            return sum(t.packets for t in self.participant.media.received.values())
        return self.tally.packets

    # -- what we show --------------------------------------------------------------------------

    def _schedule_view(self) -> None:
        if not self._view_due and self.participant is not None:
            self._view_due = True
            self._spawn(self._send_view())

    async def _send_view(self) -> None:
        """Ask for every other camera: the server sends a few by default, a gallery shows all.
        With ``view_tiles``, a page of that many at thumbnail size, as the web client's gallery
        asks (cameras that are on first, then in roster order)."""
        await asyncio.sleep(VIEW_DEBOUNCE_S)
        self._view_due = False
        participant = self.participant
        if participant is None or participant.state != "joined":
            return
        others = [pid for pid in participant.participants if pid != participant.id]
        width, height = VIEW_SIZE
        if self.view_tiles:
            width, height = THUMBNAIL_SIZE
            people = participant.participants
            others.sort(key=lambda pid: not people[pid].get("video"))
            others = others[: self.view_tiles]
        videos = [
            {"participant": pid, "source": "camera", "width": width, "height": height}
            for pid in others
        ]
        with contextlib.suppress(Exception):
            await participant.view(videos)

    def diagnose(self) -> dict[str, Any]:
        """The state of this bot's connections (for a bot that receives nothing)."""
        participant = self.participant
        if participant is None:
            return {"joined": False, "error": self.error}
        media = participant.media
        found: dict[str, Any] = {
            "state": participant.state,
            "offers_answered": media.offers,
            "replaced": {kind: dog.replaced for kind, dog in media.watchdogs.items()},
        }
        for role, pc in (("publish", media.publisher), ("subscribe", media.subscriber)):
            if pc is None:
                found[role] = None
                continue
            transports = {t.receiver.transport for t in pc.getTransceivers()}
            found[role] = {
                "connection": pc.connectionState,
                "ice": pc.iceConnectionState,
                "dtls": sorted({t.state for t in transports if t is not None}),
                "transceivers": len(pc.getTransceivers()),
            }
        return found

    # -- the end -------------------------------------------------------------------------------

    async def stop(self) -> None:
        self._stop_media()
        if self.participant is not None:
            await self.participant.leave()

    def report(self) -> BotReport:
        names: dict[int, str] = {}
        participant = self.participant
        if participant is not None and participant.media.subscriber is not None:
            description = participant.media.subscriber.remoteDescription
            names = codec_names(description.sdp) if description else {}
        return self._report(names, joined=participant is not None and participant.state == "joined")
