"""The client's media: two aiortc peer connections, as the web client has.

The publish connection offers our tracks; the subscribe connection answers the server's offers
(renewed as people come and go). The server says which of its slots carries whose video.

A connection that fails, is not up in time, or falls silent while the server says media is live
is replaced (see `mosaic.client.watchdog`): a new publish connection offers the same tracks
again; for a new subscribe connection we ask the server, which offers one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import weakref
from collections.abc import Callable, Coroutine
from typing import Any

from aiortc import (
    InvalidStateError,
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)

from mosaic.client.e2ee_keys import E2eeKeys
from mosaic.client.signaling import Event, SignalingClient, SignalingError
from mosaic.client.simulcast import RID_EXTENSION_ID, Simulcast, simulcast_offer
from mosaic.client.taps import ReceivedPackets, count_arrivals, tap_receiver
from mosaic.client.watchdog import Watchdog
from mosaic.rtc.aiortc_bridge import (
    PeerConnection,
    closing,
    send_simulcast,
    transform_received_frames,
    transform_sent_frames,
)
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)
Slot = dict[str, str]
# The roster's flag for each source a slot may carry ("audio": the microphone is on...).
ROSTER_FLAG = {
    "microphone": "audio",
    "camera": "video",
    "screen": "screen",
    "screen_audio": "screen",
}
_ICE_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def configuration(ice_servers: list[RTCIceServer]) -> RTCConfiguration:
    """One transport per connection (max-bundle), as the server offers and answers it.

    With aiortc's default ("balanced"), an offer of audio and several video slots puts the
    second and later video slots on a transport that bundling then stops: their receivers never
    start and their packets reach the first video slot's receiver."""
    return RTCConfiguration(iceServers=ice_servers, bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


def ice_ufrag(sdp: str) -> str | None:
    """The (first) ICE username fragment of a description: it names the server's transport."""
    found = _ICE_UFRAG.search(sdp)
    return found.group(1) if found else None


class ClientMedia:
    def __init__(
        self,
        signaling: SignalingClient,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        decode: bool = True,
        local_addresses: list[str] | None = None,
    ) -> None:
        """``local_addresses``: gather ICE host candidates on these only (None: every
        interface but loopback, aioice's default); this client's connections only."""
        self.signaling = signaling
        self.configuration = configuration(ice_servers or [])
        self.decode = decode
        self.local_addresses = local_addresses
        self.publisher: RTCPeerConnection | None = None
        self.subscriber: RTCPeerConnection | None = None
        self.sources: dict[str, str] = {}
        self.published: dict[str, MediaStreamTrack | Simulcast] = {}  # source -> our track
        self.slots: dict[str, Slot | None] = {}
        self._slot_events = 0  # ``slots`` events heard so far
        self.tracks: dict[str, MediaStreamTrack] = {}  # subscribe mid -> remote track
        self.received: dict[str, ReceivedPackets] = {}  # subscribe mid -> packet tap
        self.offers = 0
        self.last_view: list[dict[str, Any]] | None = None  # said again after a restart
        # Whether a participant has a source on, as the roster says (set by `Participant`).
        self.is_live: Callable[[str, str], bool] = lambda participant_id, source: True
        self.watchdogs = {"publish": Watchdog(), "subscribe": Watchdog()}
        self._abandoned: set[str] = set()  # ICE ufrags of the server transports given up
        self._tasks = TaskSet()
        self._lock = asyncio.Lock()
        self._left = False  # `close` was called: an offer still arriving opens nothing
        # Which source each publish transceiver sends (its mid is known once offered).
        self._source_of: weakref.WeakKeyDictionary[RTCRtpTransceiver, str] = (
            weakref.WeakKeyDictionary()
        )
        # The rids of each publish transceiver that sends a `Simulcast` (its offer says them).
        self._rids_of: weakref.WeakKeyDictionary[RTCRtpTransceiver, list[str]] = (
            weakref.WeakKeyDictionary()
        )
        # Every sender that sends (a simulcast layer's has no transceiver), and those whose
        # frames are encrypted already (never twice).
        self._senders: weakref.WeakSet[RTCRtpSender] = weakref.WeakSet()
        self._sealed: weakref.WeakSet[RTCRtpSender] = weakref.WeakSet()
        self._track_listeners: list[Callable[[str, MediaStreamTrack], Any]] = []
        self._sender_listeners: list[Callable[[str, RTCRtpSender], Any]] = []
        # An end-to-end encrypted meeting (set by `Participant` once it knows): each frame is
        # encrypted before packetization and decrypted after reassembly, with these keys
        # (None: none yet, so nothing is sent and nothing received is decoded).
        self.e2ee_required = False
        self.e2ee: E2eeKeys | None = None
        signaling.on("offer", self._on_offer)
        signaling.on("slots", self._on_slots)

    def use_ice_servers(self, servers: list[dict[str, Any]]) -> None:
        """STUN/TURN servers (with credentials) the server told us to use."""
        if self.publisher is not None or self.subscriber is not None or not servers:
            return
        self.configuration = configuration(
            [
                RTCIceServer(
                    urls=server["urls"],
                    username=server.get("username"),
                    credential=server.get("credential"),
                )
                for server in servers
            ]
        )

    # -- publishing ----------------------------------------------------------------------------

    async def publish(self, tracks: dict[str, MediaStreamTrack | Simulcast]) -> None:
        """Send these tracks, keyed by source ("microphone", "camera", "screen"); a
        `Simulcast` camera is sent in its layers."""
        fresh = self.publisher is None
        if self.publisher is None:
            self.publisher = self._connection()
        self._send(tracks)
        await self._negotiate_publisher()
        if fresh:
            self._watch_publisher()
        for source in tracks:
            await self.signaling.request("media", source=source, on=True)

    def _connection(self) -> RTCPeerConnection:
        return PeerConnection(self.configuration, host_addresses=self.local_addresses)

    def _send(self, tracks: dict[str, MediaStreamTrack | Simulcast]) -> None:
        assert self.publisher is not None
        for source, track in tracks.items():
            self.published[source] = track
            if isinstance(track, Simulcast):
                self._send_layers(source, track)
                continue
            transceiver = self.publisher.addTransceiver(track, direction="sendonly")
            self._source_of[transceiver] = source
            self._prepare_sender(source, transceiver.sender)

    def _send_layers(self, source: str, camera: Simulcast) -> None:
        """One transceiver for the largest layer, the others on senders of their own (see
        `mosaic.client.simulcast`); each sender prepared as a single track's is."""
        assert self.publisher is not None
        rid, track = camera.top
        transceiver = self.publisher.addTransceiver(track, direction="sendonly")
        self._source_of[transceiver] = source
        self._rids_of[transceiver] = list(camera.layers)
        send_simulcast(
            transceiver.sender,
            rid,
            camera.others,
            RID_EXTENSION_ID,
            lambda sender: self._prepare_sender(source, sender),
        )

    def _prepare_sender(self, source: str, sender: RTCRtpSender) -> None:
        self._senders.add(sender)
        if self.e2ee_required:
            self._seal_sender(sender)
        for listener in self._sender_listeners:
            listener(source, sender)

    async def _replace_publisher(
        self, pc: RTCPeerConnection, why: str, *, even_closed: bool = False
    ) -> None:
        """Offer the same tracks again on a new connection (the server takes a publish offer
        with new ICE credentials as a new connection). A closed one is left alone (we left),
        unless ``even_closed``: a server shutting down closes our connections too."""
        if pc is not self.publisher or (pc.connectionState == "closed" and not even_closed):
            return  # replaced already, or we left
        log.info("publish connection %s: publishing on a new one", why)
        self.watchdogs["publish"].gave_up()
        tracks = dict(self.published)  # a closed connection's senders hold no track
        self.publisher = self._connection()
        await self._close(pc)
        self._send(tracks)
        with contextlib.suppress(Exception):
            await self._negotiate_publisher()
        self._watch_publisher()

    def _watch_publisher(self) -> None:
        """A publish connection that sends media hears receiver reports from the server."""
        pc = self.publisher
        assert pc is not None
        _arrivals(pc)  # counted from the start, not from the watchdog's first look

        def sending() -> bool:
            return any(
                t.sender.track is not None and t.currentDirection in ("sendonly", "sendrecv")
                for t in pc.getTransceivers()
            )

        self.watchdogs["publish"].watch(
            pc, self._give_up, expected=sending, received=lambda: _arrivals(pc)
        )

    async def _negotiate_publisher(self) -> None:
        assert self.publisher is not None
        await self.publisher.setLocalDescription(await self.publisher.createOffer())
        sources = {}
        rids_of = {}
        for transceiver in self.publisher.getTransceivers():
            source = self._source_of.get(transceiver)
            if transceiver.mid is not None and source:
                sources[transceiver.mid] = source
                if transceiver in self._rids_of:
                    rids_of[transceiver.mid] = self._rids_of[transceiver]
        self.sources = sources
        offer = simulcast_offer(self.publisher.localDescription.sdp, rids_of)
        reply = await self.signaling.request("publish", sdp=offer, sources=sources)
        await self.publisher.setRemoteDescription(RTCSessionDescription(reply["sdp"], "answer"))

    # -- receiving -----------------------------------------------------------------------------

    def _on_offer(self, event: Event) -> Coroutine[Any, Any, None]:
        """Answer an offer (in the background). Its ``slots`` say who each slot carries as
        of its sending; a ``slots`` event that arrives while the offer is being answered is
        newer (someone moved to another breakout room, say) and must not be overwritten."""
        return self._answer_offer(event, self._slot_events)

    async def _answer_offer(self, event: Event, slot_events: int) -> None:
        """Answer in the background. An offer whose answer cannot be sent (we left, or the
        socket dropped meanwhile) or whose connection was closed meanwhile is let go, as it
        always was, but said in the log, not left to fail as a task nobody awaits."""
        try:
            await self._answer(event, slot_events)
        except SignalingError as error:
            if error.code not in ("closed", "reconnecting"):
                raise
            log.info("offer left unanswered: %s", error)
        except _ClosedMeanwhile:
            log.info("offer left unanswered: its connection was closed meanwhile")

    async def _answer(self, event: Event, slot_events: int) -> None:
        if ice_ufrag(event["sdp"]) in self._abandoned:
            return  # sent by a transport we gave up, before the server heard so
        async with self._lock:
            if self._left:
                return
            await self._forget_other_transport(event["sdp"])
            fresh = self.subscriber is None
            if self.subscriber is None:
                self.subscriber = self._connection()
            pc = self.subscriber
            try:
                await pc.setRemoteDescription(RTCSessionDescription(event["sdp"], "offer"))
                _arrivals(pc)  # counted from the start, not from the watchdog's first look
                for transceiver in pc.getTransceivers():
                    self._adopt(transceiver)
                await pc.setLocalDescription(await pc.createAnswer())
            except InvalidStateError:
                if not closing(pc):
                    raise
                raise _ClosedMeanwhile from None  # we left, or gave this connection up
            await self.signaling.request("answer", sdp=pc.localDescription.sdp)
            self.offers += 1
            if event.get("slots") and slot_events == self._slot_events:
                self.slots.update(event["slots"])
            if fresh:
                self.watchdogs["subscribe"].watch(
                    pc, self._give_up, expected=self._expecting, received=lambda: _arrivals(pc)
                )

    def _expecting(self) -> bool:
        """Whether the server should be sending on the subscribe connection: one of its slots
        carries a source its participant has on."""
        return any(
            slot is not None
            and mid in self.tracks
            and self.is_live(slot["participant"], slot["source"])
            for mid, slot in self.slots.items()
        )

    def _give_up(self, pc: RTCPeerConnection, why: str) -> None:
        if pc is self.publisher:
            self._spawn(self._replace_publisher(pc, why))
        else:
            self._spawn(self._replace_subscriber(pc, why))

    async def _replace_subscriber(self, pc: RTCPeerConnection, why: str) -> None:
        async with self._lock:
            if pc is not self.subscriber or pc.connectionState == "closed":
                return  # replaced already, or we left
            log.info("subscribe connection %s: asking the server for a new one", why)
            self.subscriber = None
            self.tracks.clear()
            self.received.clear()
            self.watchdogs["subscribe"].gave_up()
            remote = pc.remoteDescription
            ufrag = ice_ufrag(remote.sdp) if remote else None
            if ufrag:
                self._abandoned.add(ufrag)
        await self._close(pc)
        with contextlib.suppress(Exception):
            await self.signaling.request("restart", pc="subscribe")

    def _spawn(self, coroutine: Any) -> None:
        self._tasks.spawn(coroutine)

    def _adopt(self, transceiver: RTCRtpTransceiver) -> None:
        mid = transceiver.mid
        if mid is None or mid in self.tracks:
            return
        self.tracks[mid] = transceiver.receiver.track
        self.received[mid] = tap_receiver(transceiver.receiver, decode=self.decode)
        if self.decode:
            transform_received_frames(
                transceiver.receiver, lambda kind, frame: self._open(mid, kind, frame)
            )
        for listener in self._track_listeners:
            listener(mid, transceiver.receiver.track)

    def encrypt_senders(self) -> None:
        """The meeting became end-to-end encrypted while we publish: from the next frame on,
        each is encrypted, or not sent while we hold no key (never one more in clear)."""
        if self.e2ee_required:
            return
        self.e2ee_required = True
        if self.publisher is not None:
            for transceiver in self.publisher.getTransceivers():
                self._seal_sender(transceiver.sender)
        for sender in list(self._senders):
            self._seal_sender(sender)

    def _seal_sender(self, sender: RTCRtpSender) -> None:
        """Encrypt each frame ``sender`` sends from now on (once, whoever asks first)."""
        if sender not in self._sealed:
            self._sealed.add(sender)
            transform_sent_frames(sender, self._seal)

    def _seal(self, kind: str, frame: bytes) -> bytes | None:
        """Our frame encrypted, or None (not sent) while we hold no key."""
        return self.e2ee.encrypt(kind, frame) if self.e2ee is not None else None

    def _open(self, mid: str, kind: str, frame: bytes) -> bytes | None:
        """A received frame as the decoder gets it: in clear, or dropped."""
        if not self.e2ee_required:
            return frame
        if self.e2ee is None:
            return None
        slot = self.slots.get(mid)
        return self.e2ee.decrypt(kind, frame, slot["participant"] if slot else None)

    def _on_slots(self, event: Event) -> None:
        self._slot_events += 1
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

    async def view(self, videos: list[dict[str, Any]], max_kbps: int | None = None) -> None:
        """``max_kbps``: the data saver's cap on what we receive (None: no cap)."""
        self.last_view = videos
        await self.signaling.request("view", videos=videos, max_kbps=max_kbps)

    # -- after a restart of the server -----------------------------------------------------------

    async def _forget_other_transport(self, offer: str) -> None:
        """An offer from another server transport than our subscribe connection's (the
        server restarted and lost ours) is for a new connection: close the old one."""
        pc = self.subscriber
        remote = pc.remoteDescription if pc is not None else None
        if pc is None or remote is None or ice_ufrag(remote.sdp) == ice_ufrag(offer):
            return
        log.info("subscribe connection: the server offers a new one")
        self.subscriber = None
        self.tracks.clear()
        self.received.clear()
        await self._close(pc)

    def start_afresh(self, sources_on: set[str]) -> None:
        """The server lost our media (it restarted): publish the same tracks on a new
        connection, turn on again the ``sources_on`` it had, say again what we view. Its
        next offer makes the new subscribe connection (see `_forget_other_transport`)."""
        self._spawn(self._afresh(sources_on))

    async def _afresh(self, sources_on: set[str]) -> None:
        try:
            if self.publisher is not None:
                await self._replace_publisher(
                    self.publisher, "lost in a restart of the server", even_closed=True
                )
                for source in sorted(set(self.sources.values()) & sources_on):
                    await self.signaling.request("media", source=source, on=True)
            if self.last_view is not None:
                await self.view(self.last_view)
        except Exception as error:  # the connection dropped again: the next resume retries
            log.info("media could not start afresh: %s", error)

    async def close(self) -> None:
        self._left = True
        self._tasks.cancel()
        for watchdog in self.watchdogs.values():
            watchdog.stop()
        for pc in (self.publisher, self.subscriber):
            if pc is not None:
                await self._close(pc)

    async def _close(self, pc: RTCPeerConnection) -> None:
        with contextlib.suppress(Exception):
            await pc.close()


class _ClosedMeanwhile(Exception):
    """The connection an offer was for was closed while the offer was being answered."""


def _arrivals(pc: RTCPeerConnection) -> int:
    """RTP and RTCP packets received so far on a connection's (one, bundled) transport."""
    transceivers = pc.getTransceivers()
    if not transceivers:
        return 0
    return count_arrivals(transceivers[0].receiver.transport).packets
