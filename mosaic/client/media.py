"""The client's media: two aiortc peer connections, as the web client has.

The publish connection offers our tracks; the subscribe connection answers the server's offers
(renewed as people come and go). The server says which of its slots carries whose video.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from mosaic.client.signaling import Event, SignalingClient
from mosaic.client.taps import ReceivedPackets, tap_receiver

Slot = dict[str, str]


class ClientMedia:
    def __init__(
        self,
        signaling: SignalingClient,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        decode: bool = True,
    ) -> None:
        self.signaling = signaling
        self.configuration = RTCConfiguration(iceServers=ice_servers or [])
        self.decode = decode
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.sources: dict[str, str] = {}
        self.slots: dict[str, Slot | None] = {}
        self.tracks: dict[str, MediaStreamTrack] = {}  # subscribe mid -> remote track
        self.received: dict[str, ReceivedPackets] = {}  # subscribe mid -> packet tap
        self.offers = 0
        self._lock = asyncio.Lock()
        self._track_listeners: list[Callable[[str, MediaStreamTrack], Any]] = []
        self._sender_listeners: list[Callable[[str, RTCRtpSender], Any]] = []
        signaling.on("offer", self._on_offer)
        signaling.on("slots", self._on_slots)

    def use_ice_servers(self, servers: list[dict[str, Any]]) -> None:
        """STUN/TURN servers (with credentials) the server told us to use."""
        if self.publisher is not None or self.subscriber is not None or not servers:
            return
        self.configuration = RTCConfiguration(
            iceServers=[
                RTCIceServer(
                    urls=server["urls"],
                    username=server.get("username"),
                    credential=server.get("credential"),
                )
                for server in servers
            ]
        )

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, tracks: dict[str, MediaStreamTrack]) -> None:
        """Send these tracks, keyed by source ("microphone", "camera", "screen")."""
        if self.publisher is None:
            self.publisher = RTCPeerConnection(self.configuration)
        for source, track in tracks.items():
            transceiver = self.publisher.addTransceiver(track, direction="sendonly")
            transceiver._mosaic_source = source  # type: ignore[attr-defined]
            for listener in self._sender_listeners:
                listener(source, transceiver.sender)
        await self._negotiate_publisher()
        for source in tracks:
            await self.signaling.request("media", source=source, on=True)

    async def _negotiate_publisher(self) -> None:
        assert self.publisher is not None
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        sources = {}
        for transceiver in self.publisher.getTransceivers():
            source = getattr(transceiver, "_mosaic_source", None)
            if transceiver.mid is not None and source:
                sources[transceiver.mid] = source
        self.sources = sources
        reply = await self.signaling.request(
            "publish", sdp=self.publisher.localDescription.sdp, sources=sources
        )
        await self.publisher.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))

    # -- receiving -----------------------------------------------------------------------------

    async def _on_offer(self, event: Event) -> None:
        async with self._lock:
            if self.subscriber is None:
                self.subscriber = RTCPeerConnection(self.configuration)
            pc = self.subscriber
            await pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "offer"))
            for transceiver in pc.getTransceivers():
                self._adopt(transceiver)
            await pc.setLocalDescription(await pc.createAnswer())
            await self.signaling.request("answer", sdp=pc.localDescription.sdp)
            self.offers += 1
            if event.get("slots"):
                self._on_slots(event)

    def _adopt(self, transceiver: RTCRtpTransceiver) -> None:
        mid = transceiver.mid
        if mid is None or mid in self.tracks:
            return
        self.tracks[mid] = transceiver.receiver.track
        self.received[mid] = tap_receiver(transceiver.receiver, decode=self.decode)
        for listener in self._track_listeners:
            listener(mid, transceiver.receiver.track)

    def _on_slots(self, event: Event) -> None:
        self.slots.update(event["slots"])

    def on_sender(self, listener: Callable[[str, RTCRtpSender], Any]) -> None:
        """Call ``listener(source, sender)`` for each sender, before it sends anything (bots
        hook their replayed tracks to keyframe requests this way)."""
        self._sender_listeners.append(listener)

    def on_track(self, listener: Callable[[str, MediaStreamTrack], Any]) -> None:
        self._track_listeners.append(listener)

    def slot_of(self, participant_id: str, source: str = "camera") -> str | None:
        for mid, slot in self.slots.items():
            if slot and slot["participant"] == participant_id and slot["source"] == source:
                return mid
        return None

    def track_of(self, participant_id: str, source: str = "camera") -> MediaStreamTrack | None:
        mid = self.slot_of(participant_id, source)
        return self.tracks.get(mid) if mid else None

    async def view(self, videos: list[dict[str, Any]]) -> None:
        await self.signaling.request("view", videos=videos)

    async def close(self) -> None:
        for pc in (self.publisher, self.subscriber):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()
