"""A participant's publish connection: it offers, we answer, its packets come in.

Each packet's SSRC names an up stream. New SSRCs are learned from the SDP, the RID header
extension (simulcast), the MID extension or, failing those, the payload type. The connection
owes the publisher receiver reports, REMB (without which Chromium holds back its high layer),
NACKs for what it lost on the way and keyframes when subscribers ask.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import (
    LocalTransport,
    PublishedSection,
    answer_publish,
    answer_setup,
    merged_extension_ids,
    remote_transport,
)
from mosaic.media.sfu.seam import Transport
from mosaic.media.sfu.statistics import UplinkEstimate
from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.sfu.uplink_limit import SAMPLE_EARLY_S, SAMPLE_S, QueueDelay, UplinkLimit
from mosaic.media.wire.rtcp import (
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    SenderReport,
    compound,
    parse_rtcp,
)
from mosaic.media.wire.rtp import (
    ExtensionIds,
    MalformedPacket,
    RtpHeader,
    parse_rtp,
    rtx_original,
    unwrap_rtx,
)
from mosaic.media.wire.sdp import SdpError, parse_sdp
from mosaic.rtc import fastpath

SOURCE_KINDS = {
    Source.MICROPHONE: "audio",
    Source.SCREEN_AUDIO: "audio",
    Source.CAMERA: "video",
    Source.SCREEN: "video",
}
log = logging.getLogger(__name__)
MAX_REPORT_BLOCKS = 31
# Packets read again for their send time on each uplink sample, the newest of each video
# layer (see `uplink_limit.QueueDelay`): a few parsed a quarter second, nothing per packet.
DELAY_PACKETS = 8
# ... those that arrived in the last 100 ms: a sparse lowest layer's older packets would
# tell the queue as it was a quarter second before.
DELAY_RECENT_S = 0.1


class Feedback:
    """The publisher's end as its up tracks see it (their `seam.Uplink`): PLIs and NACKs
    sent upstream, counted. The tracks hold this, not the whole connection."""

    __slots__ = ("keyframe_requests", "nacks_sent", "rtcp_ssrc", "transport")

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.rtcp_ssrc = random.getrandbits(32)
        self.keyframe_requests = 0
        self.nacks_sent = 0

    def request_keyframe(self, ssrc: int) -> None:
        self.keyframe_requests += 1
        self.transport.send_rtcp(Pli(self.rtcp_ssrc, ssrc).serialize())

    def send_nack(self, ssrc: int, lost: list[int]) -> None:
        self.nacks_sent += len(lost)
        self.transport.send_rtcp(Nack(self.rtcp_ssrc, ssrc, lost).serialize())


class PublishPeer:
    def __init__(
        self,
        participant_id: str,
        transport: Transport,
        *,
        may_publish: Callable[[Source], bool],
        on_track: Callable[[UpTrack], None],
        on_track_gone: Callable[[UpTrack], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.participant_id = participant_id
        self.transport = transport
        self.transport.on_rtp = self._on_rtp
        self.transport.on_rtcp = self._on_rtcp
        self.feedback = Feedback(transport)
        self.may_publish = may_publish
        self.on_track = on_track
        self.on_track_gone = on_track_gone
        self.clock = clock
        # Every extension we read, to place a new SSRC (MID, RID); once placed, a stream's
        # packets need only their audio level: `known_ids`, half the parsing per packet.
        self.ids = ExtensionIds()
        self.known_ids = ExtensionIds()
        # The common case of `parse_rtp` compiled (`fastpath.rtp_parser`): None for anything
        # else, a malformed packet among them, which `parse_rtp` then reads (and refuses).
        self._parse_common = fastpath.rtp_parser(RtpHeader, ExtensionIds)
        self.tracks: dict[str, UpTrack] = {}  # by mid
        self.streams: dict[int, UpStream] = {}  # by SSRC
        self.repairs: dict[int, UpStream] = {}  # RTX SSRC -> the stream it repairs
        self._rtx_waiting: dict[str, int] = {}  # rid -> RTX SSRC seen before its stream
        self.uplink = UplinkEstimate()
        self.limit = UplinkLimit(self.uplink.minimum)
        self.queue = QueueDelay()
        self._send_times = ExtensionIds()  # abs-send-time alone, once negotiated
        self._limit_sampled = 0.0
        self.limit_cuts = 0
        self.malformed = 0
        self.repaired = 0
        self.started = False
        self.remote_ufrag: str | None = None
        self._gathered = False

    # -- negotiation ---------------------------------------------------------------------------

    async def negotiate(self, offer_sdp: str, sources: dict[str, Source]) -> str:
        """Answer an offer (the first or a renegotiation); returns the answer's SDP."""
        offer = parse_sdp(offer_sdp)
        remote = remote_transport(offer)
        accept = {}
        for section in offer.media:
            source = sources.get(section.mid or "")
            accept[section.mid or ""] = (
                source is not None
                and SOURCE_KINDS[source] == section.kind
                and self.may_publish(source)
            )
        if len(set(sources.values())) != len(sources):
            raise SdpError("one source per media section")
        if not self._gathered:
            await self.transport.gather()
            self._gathered = True
        local = LocalTransport(
            self.transport.ice_username_fragment,
            self.transport.ice_password,
            self.transport.fingerprints(),
            self.transport.local_candidates(),
        )
        answer, published = answer_publish(offer, local, accept)
        self.ids = merged_extension_ids(answer)
        self.known_ids = ExtensionIds(audio_level=self.ids.audio_level)
        self._send_times = ExtensionIds(abs_send_time=self.ids.abs_send_time)
        for track in self.tracks.values():
            track.ids = self.known_ids
        self._update_tracks(published, sources)
        if not self.started:
            self.started = True
            self.remote_ufrag = remote.ice_ufrag
            for candidate in remote.candidates:
                await self.transport.add_remote_candidate(candidate)
            self.transport.start(
                remote_ufrag=remote.ice_ufrag,
                remote_pwd=remote.ice_pwd,
                remote_fingerprints=remote.fingerprints,
                ice_controlling=False,
                dtls_client=answer_setup(remote.setup) == "active",
            )
        return str(answer)

    def is_ice_restart(self, offer_sdp: str) -> bool:
        """Whether this offer brings new ICE credentials (RFC 8445 §9: an ICE restart)."""
        if not self.started:
            return False
        try:
            return remote_transport(parse_sdp(offer_sdp)).ice_ufrag != self.remote_ufrag
        except ValueError:
            return False

    def _update_tracks(self, published: list[PublishedSection], sources: dict[str, Source]) -> None:
        current = {section.mid: section for section in published}
        for mid in [mid for mid in self.tracks if mid not in current]:
            self._drop_track(mid)
        for mid, section in current.items():
            if mid in self.tracks:
                continue
            track = UpTrack(
                self.participant_id, sources[mid], section, self.feedback, self.known_ids
            )
            track.limit = self.limit
            self.tracks[mid] = track
            for ssrc in section.ssrcs:
                self.streams[ssrc] = track.stream(ssrc, None)
            for rtx_ssrc, media_ssrc in section.rtx_of.items():
                if media_ssrc in self.streams:
                    self.repairs[rtx_ssrc] = self.streams[media_ssrc]
            self.on_track(track)

    def _drop_track(self, mid: str) -> None:
        track = self.tracks.pop(mid)
        for table in (self.streams, self.repairs):
            for ssrc in [s for s, stream in table.items() if stream.track is track]:
                del table[ssrc]
        track.close()
        self.on_track_gone(track)

    # -- packets in ----------------------------------------------------------------------------

    def _on_rtp(self, data: bytes) -> None:
        now = self.clock()
        parse_common = self._parse_common
        try:
            header = None if parse_common is None else parse_common(data, self.known_ids)
            if header is None:
                header = parse_rtp(data, self.known_ids)
            stream = self.streams.get(header.ssrc)
            if stream is None:
                repaired = self.repairs.get(header.ssrc)
                if repaired is not None:
                    self._repair(repaired, data, header, now)
                    return
                header = parse_rtp(data, self.ids)
        except MalformedPacket:
            self.malformed += 1
            return
        if stream is None:
            stream = self._learn(header)
            if stream is None:
                return
        if header.payload_type != stream.track.payload_type:
            return  # not the media codec (RTX probes on a media SSRC, comfort noise...)
        stream.receive(data, header, now)

    def _repair(self, stream: UpStream, data: bytes, header: RtpHeader, now: float) -> None:
        """An RTX packet (RFC 4588): forward the original it carries, late but useful, if it
        is one we asked for."""
        track = stream.track
        if header.payload_type != track.rtx_payload_type or header.payload_size < 2:
            return  # padding probes on the RTX stream
        try:
            original_seq, _ = unwrap_rtx(data, header)
            if stream.nack is None or not stream.nack.is_missing(original_seq):
                # Not a packet we lost: a bandwidth probe, or a copy that came too late.
                return
            packet = rtx_original(data, header, payload_type=track.payload_type, ssrc=stream.ssrc)
            original = parse_rtp(packet, self.known_ids)
        except MalformedPacket:
            return
        self.repaired += 1
        stream.receive(packet, original, now)

    def _learn(self, header: RtpHeader) -> UpStream | None:
        """Attach a new SSRC to its track and layer, or ignore it."""
        track = self._track_for(header)
        if track is None:
            return None
        if header.repaired_rid is not None or header.payload_type == track.rtx_payload_type:
            rid = header.repaired_rid
            for stream in track.streams:
                if stream.rid == rid or (rid is None and not track.rids):
                    self.repairs[header.ssrc] = stream
                    return None
            if rid is not None:
                self._rtx_waiting[f"{track.mid}:{rid}"] = header.ssrc
            return None
        if header.payload_type != track.payload_type:
            return None
        rid = header.rid
        if track.rids:
            if rid not in track.rids or any(s.rid == rid for s in track.streams):
                return None
        elif track.streams:
            return None  # one stream per track without simulcast
        stream = track.stream(header.ssrc, rid)
        self.streams[header.ssrc] = stream
        rtx_ssrc = self._rtx_waiting.pop(f"{track.mid}:{rid}", None)
        if rtx_ssrc is not None:
            self.repairs[rtx_ssrc] = stream
        return stream

    def _track_for(self, header: RtpHeader) -> UpTrack | None:
        if header.mid is not None:
            return self.tracks.get(header.mid)
        matching = [
            t
            for t in self.tracks.values()
            if header.payload_type in (t.payload_type, t.rtx_payload_type)
        ]
        return matching[0] if len(matching) == 1 else None

    def _on_rtcp(self, data: bytes) -> None:
        try:
            packets = parse_rtcp(data)
        except MalformedPacket:
            self.malformed += 1
            return
        now = self.clock()
        for packet in packets:
            if isinstance(packet, SenderReport):
                stream = self.streams.get(packet.ssrc)
                if stream is not None:
                    stream.stats.sender_report(packet.ntp_timestamp, now, packet.rtp_timestamp)

    # -- feedback out --------------------------------------------------------------------------

    @property
    def rtcp_ssrc(self) -> int:
        return self.feedback.rtcp_ssrc

    @property
    def nacks_sent(self) -> int:
        return self.feedback.nacks_sent

    @property
    def keyframe_requests(self) -> int:
        return self.feedback.keyframe_requests

    def tick(self, now: float) -> None:
        """Retry NACKs; called often (every 50 ms or so)."""
        for track in self.tracks.values():
            if track.kind == "video":
                track.tick(now)
        for stream in self.streams.values():
            if stream.nack is not None:
                due = stream.nack.due(now)
                if due:
                    self.feedback.send_nack(stream.ssrc, due)
        if now - self._limit_sampled >= SAMPLE_S - SAMPLE_EARLY_S:
            self._sample_uplink(now)
            self._limit_sampled = now

    def _sample_uplink(self, now: float) -> None:
        """Feed the held limit (`uplink_limit`) its video counters and queue; when it was
        just cut, tell the browser at once (REMB), not at the next report a second later."""
        expected = received = octets = 0
        since = max(self._limit_sampled, now - DELAY_RECENT_S)
        for stream in self.streams.values():
            if stream.track.kind == "video":
                stats = stream.stats
                expected += stats.expected
                received += stats.received
                octets += stats.bytes_received
                if self._send_times.abs_send_time:
                    self._queue_of(stream, since)
        lowest = sum(
            track.streams[0].meter.rate(now)
            for track in self.tracks.values()
            if track.kind == "video" and track.streams
        )
        if self.limit.sample(expected, received, octets, now, self.queue.sample(), lowest):
            log.info("uplink limit %s: %.0f kbit/s", self.participant_id, self.limit.cap_bps / 1000)
            self.limit_cuts += 1
            self.uplink.bitrate = self.limit.cap_bps
            self._send_remb(self.limit.apply(self.uplink.bitrate, now))
            # Its viewers are moved to its lowest layer (see `UpTrack.layers`), which the
            # browser restarts first: ask for that layer's keyframe now, not a tick later.
            for track in self.tracks.values():
                if track.kind == "video" and len(track.streams) > 1:
                    track.streams[0].request_keyframe(now)

    def _queue_of(self, stream: UpStream, since: float) -> None:
        """Give `queue` the send and arrival times of the stream's newest packets, those
        that arrived since the last sample."""
        cache = stream.cache
        sequence_number = stream.stats.max_seq
        for _ in range(DELAY_PACKETS):
            arrival = cache.arrival(sequence_number)
            data = cache.get(sequence_number)
            if arrival is None or data is None or arrival <= since:
                return
            try:
                send_time = parse_rtp(data, self._send_times).abs_send_time
            except MalformedPacket:
                return
            if send_time is not None:
                self.queue.add(send_time, arrival)
            sequence_number = (sequence_number - 1) & 0xFFFF

    def send_reports(self, now: float) -> None:
        """Receiver reports for every stream, and REMB (about once a second)."""
        if not self.streams:
            return
        blocks = []
        worst_loss = 0.0
        for stream in list(self.streams.values())[:MAX_REPORT_BLOCKS]:
            if stream.stats.received:
                block, loss = stream.stats.report_block(stream.ssrc, now)
                blocks.append(block)
                if stream.track.kind == "video":
                    worst_loss = max(worst_loss, loss)
        if self.limit.holding:
            # The held limit is the estimate: the loss in this report is mostly the overflow
            # it already answered, and counting it again sank a 700 kbit/s uplink's REMB to
            # 160 kbit/s, below the middle layer.
            self.uplink.bitrate = self.limit.cap_bps
        else:
            self.uplink.on_loss(worst_loss)
        bitrate = self.limit.apply(self.uplink.bitrate, now)
        packets = [ReceiverReport(self.rtcp_ssrc, blocks)]
        remb = self._remb(bitrate)
        if remb is not None:
            packets.append(remb)
        self.transport.send_rtcp(compound(*packets))  # type: ignore[arg-type]

    def _remb(self, bitrate: float) -> Remb | None:
        ssrcs = [s for s, stream in self.streams.items() if stream.track.kind == "video"]
        return Remb(self.rtcp_ssrc, int(bitrate), ssrcs) if ssrcs else None

    def _send_remb(self, bitrate: float) -> None:
        remb = self._remb(bitrate)
        if remb is not None:
            self.transport.send_rtcp(remb.serialize())

    async def add_remote_candidate(self, candidate: str | None) -> None:
        await self.transport.add_remote_candidate(candidate)

    async def close(self) -> None:
        for mid in list(self.tracks):
            self._drop_track(mid)
        await self.transport.close()
