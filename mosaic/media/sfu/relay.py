"""The relay between workers: a track shown by one router reaches another router over UDP.

One `RelayLink` per pair of workers, on each side: one UDP socket whose only peer is the
other side's. On the sending side a relayed layer is a `DownTrack` whose `seam.Downlink` is
the link (one relay stream per layer per worker, however many subscribers watch it there);
on the receiving side it is an `UpTrack` whose `seam.Uplink` is the link, handed to that
router with `Router.add_track` like any publisher's. Neither router knows.

Feedback runs back over the same socket pair as RTCP: a PLI from the receiving worker makes
the relay's down track ask its up stream for a keyframe (which asks the publisher), a NACK is
answered by the relay's down track from its up stream's packet cache (the nearest cache: the
publisher is not asked again). The receiving side's NACK retries and keyframe retries run on
`tick`, as a publisher's do on the router's beat.

Between workers of one machine the packets are plain RTP over loopback; between machines the
link is `secure`: SRTP (AES-128-CM, HMAC-SHA1-80), each side encrypting with a master key it
made itself and hands to the other through ``hand_over`` (the cluster carries it over its
bus; nothing here knows of Redis). What a relay stream is (participant, source, codec, SSRCs)
travels the same way, as a `RelayedTrack`.

Like a media socket, a relay socket takes datagrams from its one configured peer address and
port only: the rest are dropped and counted (`strangers`); under SRTP a packet that does not
authenticate is dropped and counted (`refused`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pylibsrtp

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import (
    DOWN_EXTENSIONS,
    OPUS_PT,
    RTX_PT,
    VP8_PT,
    PublishedSection,
)
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtcp import Fir, Nack, Pli, parse_rtcp
from mosaic.media.wire.rtp import MalformedPacket, parse_rtp, rtx_original, unwrap_rtx

log = logging.getLogger(__name__)

TICK_S = 0.05  # as the router's beat: NACK retries every rtt, keyframe retries
# A relayed packet lost is asked for again on every tick, up to 5 times: a relay's round trip
# is a LAN's (loopback on one machine), not a browser's 100 ms, and a viewer's picture stops
# at the hole until it is filled (the loss test's standard: no freeze over 0.3 s). With 5 %
# loss each way a try fails ~10 % of the time; at a try every 100 ms, three tries in all,
# the third try's repairs came after ~0.3 s, and about one packet a run needed a fourth.
RELAY_NACK_INTERVAL_S = 0.04  # just under a tick: asked again on every tick
RELAY_NACK_TRIES = 5
KEY_SIZE = 30  # AES-128-CM master key (16) and salt (14), RFC 3711 §8.2
# RFC 5761 §4: RTCP packet types 192-223 in the second byte; Mosaic's RTP payload types
# (96 and up, with or without the marker bit) never fall there.
RTCP_TYPES = range(192, 224)

# What a relayed track may be (see `parse_relayed_track`): the codecs the relay's payload
# types carry, a camera's three simulcast layers at most.
RELAYED_CODECS = {"audio": ("opus", 48000), "video": ("vp8", 90000)}
SOURCE_NAMES = frozenset(source.value for source in Source)
MAX_LAYERS = 3
MAX_NAME = 200
MAX_RID = 16

Address = tuple[str, int]
Clock = Callable[[], float]
HandOver = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RelayedStream:
    """One relayed layer: its SSRC on the relay, the SSRC of its retransmissions, its RID."""

    ssrc: int
    rtx_ssrc: int | None
    rid: str | None


@dataclass(frozen=True, slots=True)
class RelayedTrack:
    """What the receiving worker must know of a relayed track (sent over the cluster's bus)."""

    participant_id: str
    source: str
    kind: str
    codec: str
    clock_rate: int
    mid: str
    streams: tuple[RelayedStream, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "participant_id": self.participant_id,
            "source": self.source,
            "kind": self.kind,
            "codec": self.codec,
            "clock_rate": self.clock_rate,
            "mid": self.mid,
            "streams": [[s.ssrc, s.rtx_ssrc, s.rid] for s in self.streams],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RelayedTrack:
        return cls(
            str(data["participant_id"]),
            str(data["source"]),
            str(data["kind"]),
            str(data["codec"]),
            int(data["clock_rate"]),
            str(data["mid"]),
            tuple(
                RelayedStream(int(s), None if r is None else int(r), i)
                for s, r, i in data["streams"]
            ),
        )


def parse_relayed_track(data: object) -> RelayedTrack | None:
    """A `RelayedTrack` as another worker described it, checked field by field (None if
    anything is off: a wrong type, an unknown source, a codec the relay does not carry, an
    SSRC out of range or given twice). `RelayedTrack.from_json` trusts its input; this does
    not."""
    if not isinstance(data, dict):
        return None
    pid, source, kind, codec, rate, mid, streams = (
        data.get(k)
        for k in ("participant_id", "source", "kind", "codec", "clock_rate", "mid", "streams")
    )
    if not isinstance(pid, str) or not pid or len(pid) > MAX_NAME:
        return None
    if not isinstance(source, str) or not isinstance(kind, str):
        return None
    if source not in SOURCE_NAMES or kind not in RELAYED_CODECS:
        return None
    if (codec, rate) != RELAYED_CODECS[kind] or not isinstance(mid, str) or len(mid) > MAX_NAME:
        return None
    layers = MAX_LAYERS if kind == "video" else 1
    if not isinstance(streams, list) or not 0 < len(streams) <= layers:
        return None
    parsed = []
    for entry in streams:
        if not isinstance(entry, list) or len(entry) != 3:
            return None
        ssrc, rtx, rid = entry
        if not _ssrc(ssrc) or (rtx is not None and (kind != "video" or not _ssrc(rtx))):
            return None
        if rid is not None and (not isinstance(rid, str) or len(rid) > MAX_RID):
            return None
        parsed.append(RelayedStream(ssrc, rtx, rid))
    numbers = [s.ssrc for s in parsed] + [s.rtx_ssrc for s in parsed if s.rtx_ssrc is not None]
    if len(set(numbers)) != len(numbers):
        return None
    codec_name, clock_rate = RELAYED_CODECS[kind]
    return RelayedTrack(pid, str(source), str(kind), codec_name, clock_rate, mid, tuple(parsed))


def _ssrc(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**32


def new_key() -> bytes:
    """A fresh SRTP master key and salt, made by the side that will encrypt with it."""
    return secrets.token_bytes(KEY_SIZE)


def _srtp(key: bytes, outbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=key,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND
        if outbound
        else pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    )
    return pylibsrtp.Session(policy=policy)


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, link: RelayLink) -> None:
        self.link = link

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.link.datagram_received(data, addr)


class RelayLink:
    """One worker's end of the relay to one other worker: both a `seam.Downlink` (for the
    relay's down tracks here) and a `seam.Uplink` (for the relayed up tracks here)."""

    started = True  # a relay has no answer to wait for: keyframes are asked for at once

    def __init__(
        self,
        clock: Clock,
        *,
        secure: bool = False,
        hand_over: HandOver | None = None,
        local: Address = ("127.0.0.1", 0),
    ) -> None:
        if secure and hand_over is None:
            raise ValueError("an encrypted relay needs a way to hand its key to its peer")
        self.clock = clock
        self.secure = secure
        self._hand_over = hand_over
        self._local = local
        self.peer: Address | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._tx: pylibsrtp.Session | None = None
        self._rx: pylibsrtp.Session | None = None
        self.rtcp_ssrc = secrets.randbits(31) + 1
        # Sending side: the relay's down tracks by their SSRC (feedback names it).
        self._out: dict[int, DownTrack] = {}
        # Receiving side: the relayed up tracks, their streams by SSRC and by RTX SSRC.
        self._tracks: list[UpTrack] = []
        self._in: dict[int, UpStream] = {}
        self._repairs: dict[int, UpStream] = {}
        self._ticker: asyncio.Task[None] | None = None
        # Counters (what `mosaic cluster status` and the tests read).
        self.strangers = 0  # datagrams from anyone but the peer: dropped
        self.refused = 0  # SRTP that did not authenticate (or came before the key): dropped
        self.malformed = 0
        self.unknown = 0  # media for a stream not (or no longer) relayed here
        self.sent = 0
        self.received = 0
        self.retransmitted = 0  # RTX sent from this side's caches
        self.nacks_sent = 0
        self.keyframe_requests_sent = 0

    # -- life ---------------------------------------------------------------------------------

    async def open(self, *, ticking: bool = True) -> Address:
        """Bind the socket (and, when secure, make this side's key and hand it over);
        return the local address the peer must send to."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Socket(self), local_addr=self._local
        )
        self._transport = transport
        if self.secure:
            key = new_key()
            self._tx = _srtp(key, outbound=True)
            assert self._hand_over is not None
            await self._hand_over(key)
        if ticking:
            self._ticker = asyncio.create_task(self._run())
        address = self.address
        assert address is not None
        return address

    @property
    def address(self) -> Address | None:
        """Where this end takes datagrams (once open)."""
        if self._transport is None:
            return None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    def connect(self, peer: Address) -> None:
        """The peer's address and port: the only ones this socket takes datagrams from."""
        self.peer = (peer[0], peer[1])

    def accept_key(self, key: bytes) -> None:
        """The peer's key (handed over by the cluster): what it sends is decrypted with it."""
        if len(key) != KEY_SIZE:
            raise ValueError("not an SRTP master key and salt")
        self._rx = _srtp(key, outbound=False)

    def close(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for down in list(self._out.values()):
            down.assign(None)
        self._out.clear()
        for track in self._tracks:
            track.close()
        self._tracks.clear()
        self._in.clear()
        self._repairs.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.tick(self.clock())
            except Exception:
                log.exception("relay tick failed")

    # -- the sending side ----------------------------------------------------------------------

    def send(self, track: UpTrack, layers: list[UpStream], now: float) -> RelayedTrack:
        """Relay these layers of ``track`` (its only stream, for audio) to the peer: one down
        track each, from their next keyframe. What the peer needs to receive them is returned,
        for the cluster to hand over."""
        video = track.kind == "video"
        streams = []
        for layer in layers:
            ssrc = self._new_ssrc()
            rtx_ssrc = self._new_ssrc() if video else None
            down = DownTrack(
                self,
                track.kind,
                f"relay-{track.mid}",
                ssrc=ssrc,
                rtx_ssrc=rtx_ssrc or 0,
                payload_type=VP8_PT if video else OPUS_PT,
                rtx_payload_type=RTX_PT if video else None,
            )
            self._out[ssrc] = down
            down.assign(track)
            down.want(layer, now)
            streams.append(RelayedStream(ssrc, rtx_ssrc, layer.rid))
        return RelayedTrack(
            track.participant_id,
            track.source.value,
            track.kind,
            track.codec,
            track.clock_rate,
            track.mid,
            tuple(streams),
        )

    def stop(self, relayed: RelayedTrack) -> None:
        """Relay these streams no more (no one on the peer watches them)."""
        for stream in relayed.streams:
            down = self._out.pop(stream.ssrc, None)
            if down is not None:
                down.assign(None)

    def _new_ssrc(self) -> int:
        while True:
            ssrc = secrets.randbits(31) + 1
            if ssrc not in self._out:
                return ssrc

    # seam.Downlink

    @property
    def connected(self) -> bool:
        return (
            self._transport is not None
            and self.peer is not None
            and (not self.secure or self._tx is not None)
        )

    def awaits_media(self, now: float) -> bool:
        return True

    def send_rtp(self, packet: bytes | bytearray) -> None:
        transport = self._transport
        if transport is None or self.peer is None:
            return
        data = bytes(packet)  # the template is stamped again for the next receiver
        if self._tx is not None:
            try:
                data = self._tx.protect(data)
            except pylibsrtp.Error:
                return
        elif self.secure:
            return
        transport.sendto(data, self.peer)
        self.sent += 1

    def send_template(self, template: bytearray, now: float) -> None:
        self.send_rtp(template)  # relay down tracks are never `numbered`

    def _send_rtcp(self, packet: bytes) -> None:
        transport = self._transport
        if transport is None or self.peer is None:
            return
        if self._tx is not None:
            packet = self._tx.protect_rtcp(packet)
        elif self.secure:
            return
        transport.sendto(packet, self.peer)

    # -- the receiving side --------------------------------------------------------------------

    def receive(self, relayed: RelayedTrack) -> UpTrack:
        """The up track of a track the peer relays here, to hand to this worker's router
        (`Router.add_track`); its feedback goes back over this link."""
        video = relayed.kind == "video"
        section = PublishedSection(
            relayed.mid,
            relayed.kind,
            relayed.codec,
            VP8_PT if video else OPUS_PT,
            relayed.clock_rate,
            RTX_PT if video else None,
            [s.rid for s in relayed.streams if s.rid is not None],
        )
        track = UpTrack(
            relayed.participant_id, Source(relayed.source), section, self, DOWN_EXTENSIONS
        )
        for stream in relayed.streams:
            up = track.stream(stream.ssrc, stream.rid)
            if up.nack is not None:
                up.nack.rtt = RELAY_NACK_INTERVAL_S
                up.nack.max_retries = RELAY_NACK_TRIES
            self._in[stream.ssrc] = up
            if stream.rtx_ssrc is not None:
                self._repairs[stream.rtx_ssrc] = up
        self._tracks.append(track)
        return track

    def forget(self, track: UpTrack) -> None:
        """The peer relays this track no more: it stops feeding this worker's down tracks
        (the caller removes it from its router)."""
        if track in self._tracks:
            self._tracks.remove(track)
        for stream in track.streams:
            self._in.pop(stream.ssrc, None)
        for ssrc, stream in list(self._repairs.items()):
            if stream.track is track:
                del self._repairs[ssrc]
        track.close()

    def tick(self, now: float) -> None:
        """NACK retries and keyframe retries for the relayed tracks (see `PublishPeer.tick`)."""
        for track in self._tracks:
            if track.kind == "video":
                track.tick(now)
            for stream in track.streams:
                if stream.nack is not None:
                    due = stream.nack.due(now)
                    if due:
                        self.send_nack(stream.ssrc, due)

    # seam.Uplink

    def request_keyframe(self, ssrc: int) -> None:
        self.keyframe_requests_sent += 1
        self._send_rtcp(Pli(self.rtcp_ssrc, ssrc).serialize())

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        self.nacks_sent += len(lost)
        self._send_rtcp(Nack(self.rtcp_ssrc, ssrc, lost).serialize())

    # -- the socket ----------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Any) -> None:
        peer = self.peer
        if peer is None or addr[0] != peer[0] or addr[1] != peer[1]:
            self.strangers += 1
            return
        if len(data) < 12:
            self.malformed += 1
            return
        rtcp = data[1] in RTCP_TYPES
        rx = self._rx
        if rx is not None:
            try:
                data = rx.unprotect_rtcp(data) if rtcp else rx.unprotect(data)
            except pylibsrtp.Error:
                self.refused += 1
                return
        elif self.secure:
            self.refused += 1
            return
        if rtcp:
            self._feedback(data)
        else:
            self._media(data)

    def _media(self, data: bytes) -> None:
        try:
            header = parse_rtp(data, DOWN_EXTENSIONS)
        except MalformedPacket:
            self.malformed += 1
            return
        stream = self._in.get(header.ssrc)
        if stream is None:
            stream = self._repairs.get(header.ssrc)
            if stream is None or header.payload_type != RTX_PT or header.payload_size < 2:
                self.unknown += 1
                return
            try:
                original, _ = unwrap_rtx(data, header)
                if stream.nack is None or not stream.nack.is_missing(original):
                    return  # a copy that came too late
                data = rtx_original(
                    data, header, payload_type=stream.track.payload_type, ssrc=stream.ssrc
                )
                header = parse_rtp(data, DOWN_EXTENSIONS)
            except MalformedPacket:
                self.malformed += 1
                return
        elif header.payload_type != stream.track.payload_type:
            self.unknown += 1
            return
        self.received += 1
        stream.receive(data, header, self.clock())

    def _feedback(self, data: bytes) -> None:
        try:
            packets = parse_rtcp(data)
        except MalformedPacket:
            self.malformed += 1
            return
        now = self.clock()
        for packet in packets:
            if isinstance(packet, Pli):
                self._keyframe(packet.media_ssrc, now)
            elif isinstance(packet, Fir):
                for ssrc, _ in packet.entries:
                    self._keyframe(ssrc, now)
            elif isinstance(packet, Nack):
                down = self._out.get(packet.media_ssrc)
                if down is None:
                    continue
                for number in packet.lost:
                    repair = down.retransmission(number, now)
                    if repair is not None:
                        self.retransmitted += 1
                        self.send_rtp(repair)

    def _keyframe(self, ssrc: int, now: float) -> None:
        down = self._out.get(ssrc)
        if down is not None:
            down.request_keyframe(now)


async def connect_pair(
    first: RelayLink, second: RelayLink, *, ticking: bool = True
) -> tuple[Address, Address]:
    """Open both ends and point each at the other (in one process; the cluster does this
    across processes with the addresses it exchanges)."""
    a = await first.open(ticking=ticking)
    b = await second.open(ticking=ticking)
    first.connect(b)
    second.connect(a)
    return a, b
