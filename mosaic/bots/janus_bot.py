"""The same bot in a Janus VideoRoom, so both servers face identical traffic.

Like a Mosaic participant it has two peer connections: one publishes (the bot offers,
``configure`` answers), one receives every other publisher's streams (Janus 1.x multistream:
Janus offers, the bot answers with ``start``; a later publisher is added with ``subscribe``
and Janus offers again). The media are the same replayed clips with the same sender hooks, and
received packets are counted at the socket the same way.

A large meeting's load (`bench.large`) as Mosaic's bots make it: ``simulcast`` publishes the
camera in the same three layers with the same rid-based offer (`mosaic.client.simulcast`;
Janus is told the rids go smallest first, ``rid_order: lmh``), and ``thumbnails`` subscribes
to every camera's smallest layer (``substream: 0``), as a page of thumbnail tiles in
Mosaic makes the SFU choose it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiortc import RTCPeerConnection, RTCSessionDescription

from mosaic.bots.base import BaseBot, BotReport, MediaMode
from mosaic.bots.counting import codec_names, count_at_socket
from mosaic.bots.janus_api import Event, JanusHandle, JanusSession, plugin_data
from mosaic.bots.tracks import bind_sender
from mosaic.client.simulcast import RID_EXTENSION_ID, simulcast_offer
from mosaic.rtc.aiortc_bridge import PeerConnection, ice_connection, send_simulcast


class JanusBot(BaseBot):
    def __init__(
        self,
        janus_url: str,
        room: int,
        name: str,
        *,
        mode: MediaMode = MediaMode.VIDEO,
        decode: bool = False,
        local_addresses: list[str] | None = None,
        simulcast: bool = False,
        thumbnails: bool = False,
    ) -> None:
        super().__init__(
            janus_url,
            name,
            mode=mode,
            decode=decode,
            local_addresses=local_addresses,
            simulcast=simulcast,
        )
        self.thumbnails = thumbnails
        self.janus_url = janus_url
        self.room = room
        self.feed_id: int | None = None
        self.session: JanusSession | None = None
        self.publisher_pc: RTCPeerConnection | None = None
        self.subscriber_pc: RTCPeerConnection | None = None
        self._private_id: int | None = None
        self._subscriber: JanusHandle | None = None
        self._subscribed: set[int] = set()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        started = time.monotonic()
        self.session = JanusSession(self.janus_url)
        await self.session.create()
        handle = await self.session.attach()
        handle.listener = self._on_publisher_event
        joined = plugin_data(
            await handle.message(
                {"request": "join", "ptype": "publisher", "room": self.room, "display": self.name}
            )
        )
        self.feed_id = int(joined["id"])
        self._private_id = joined.get("private_id")
        if self.tracks.audio or self.tracks.video:
            await self._publish(handle)
        self.join_s = time.monotonic() - started
        await self._subscribe([int(p["id"]) for p in joined.get("publishers", [])])

    async def _publish(self, handle: JanusHandle) -> None:
        pc = PeerConnection(host_addresses=self.local_addresses)
        self.publisher_pc = pc
        layers = self.tracks.layers
        layered = None
        for kind, track in self.tracks.as_dict().items():
            transceiver = pc.addTransceiver(track, direction="sendonly")
            if kind == "video" and layers is not None:
                # Every layer's sender replays its own track (the top one included).
                rid, _ = layers.top
                send_simulcast(
                    transceiver.sender,
                    rid,
                    layers.others,
                    RID_EXTENSION_ID,
                    lambda sender: bind_sender(sender, sender.track) if sender.track else None,
                )
                layered = transceiver
            else:
                bind_sender(transceiver.sender, track)
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        jsep = {"type": "offer", "sdp": sdp}
        if layers is not None and layered is not None and layered.mid is not None:
            jsep["sdp"] = simulcast_offer(sdp, {layered.mid: list(layers.layers)})
            jsep["rid_order"] = "lmh"  # smallest first, as the web client lists them
        event = await handle.message(
            {"request": "configure", "audio": self.tracks.audio is not None,
             "video": self.tracks.video is not None},
            jsep=jsep,
        )  # fmt: skip
        await pc.setRemoteDescription(RTCSessionDescription(event["jsep"]["sdp"], "answer"))
        await handle.trickle_done()

    # -- receiving -----------------------------------------------------------------------------

    def _on_publisher_event(self, event: Event) -> None:
        publishers = plugin_data(event).get("publishers")
        if publishers:
            self._spawn(self._subscribe([int(p["id"]) for p in publishers]))

    def _on_subscriber_event(self, event: Event) -> None:
        jsep = event.get("jsep")
        if jsep and jsep.get("type") == "offer":
            self._spawn(self._answer_unprompted(jsep["sdp"]))

    async def _answer_unprompted(self, sdp: str) -> None:
        async with self._lock:
            await self._answer(sdp)

    async def _subscribe(self, feeds: list[int]) -> None:
        """Receive these publishers' streams (those not received yet)."""
        async with self._lock:
            new = [f for f in feeds if f != self.feed_id and f not in self._subscribed]
            if not new:
                return
            self._subscribed.update(new)
            # A page of thumbnails: every camera's smallest simulcast layer.
            layer = {"substream": 0} if self.thumbnails else {}
            streams = [{"feed": feed, **layer} for feed in new]
            assert self.session is not None
            if self._subscriber is None:
                self._subscriber = await self.session.attach()
                self._subscriber.listener = self._on_subscriber_event
                body: dict[str, Any] = {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": self.room,
                    "streams": streams,
                }
                if self._private_id is not None:
                    body["private_id"] = self._private_id
                event = await self._subscriber.message(body)
            else:
                event = await self._subscriber.message({"request": "subscribe", "streams": streams})
            jsep = event.get("jsep")
            if jsep and jsep.get("type") == "offer":
                await self._answer(jsep["sdp"])

    async def _answer(self, sdp: str) -> None:
        assert self._subscriber is not None
        first = self.subscriber_pc is None
        if first:
            self.subscriber_pc = PeerConnection(host_addresses=self.local_addresses)
            self.subscriber_pc.on("track", self._on_track)
        pc = self.subscriber_pc
        assert pc is not None
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        if first and not self.decode:
            connection = ice_connection(pc)
            if connection is not None:
                count_at_socket(connection, self.tally)
        await pc.setLocalDescription(await pc.createAnswer())
        await self._subscriber.message(
            {"request": "start"}, jsep={"type": "answer", "sdp": pc.localDescription.sdp}
        )
        if first:
            await self._subscriber.trickle_done()

    def _on_track(self, track: Any) -> None:
        if self.decode and track.kind == "video":
            self._spawn(self._drain(track))

    def received(self) -> int:
        return self.frames_decoded if self.decode else self.tally.packets

    def diagnose(self) -> dict[str, Any]:
        """The state of this bot's connections (for a bot that receives nothing)."""
        found: dict[str, Any] = {"feed": self.feed_id, "subscribed": len(self._subscribed)}
        for role, pc in (("publish", self.publisher_pc), ("subscribe", self.subscriber_pc)):
            found[role] = (
                None
                if pc is None
                else {"connection": pc.connectionState, "ice": pc.iceConnectionState}
            )
        return found

    # -- the end -------------------------------------------------------------------------------

    async def stop(self) -> None:
        self._stop_media()
        for pc in (self.publisher_pc, self.subscriber_pc):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await pc.close()
        if self.session is not None:
            await self.session.destroy()

    def report(self) -> BotReport:
        names: dict[int, str] = {}
        pc = self.subscriber_pc
        if pc is not None and pc.remoteDescription is not None:
            names = codec_names(pc.remoteDescription.sdp)
        return self._report(names, joined=self.feed_id is not None)
