"""A participant's subscribe connection: we offer sending slots, it answers, media goes out.

Slots are only ever added (by renegotiating), never removed; an idle slot simply sends
nothing. The connection answers the browser's feedback itself: NACKs from the packet caches
(as RTX), keyframe requests passed on to the publisher. It numbers every packet it sends
with a transport-wide sequence number and keeps when and how big each was (`SendHistory`),
so that the receiver's transport-wide feedback (Chromium, Firefox), its REMB (aiortc) and
its receiver reports feed the connection's `DownlinkEstimator`: `estimated_bps` is what the
allocation fits this viewer's streams into. It sends sender reports so the browser can
synchronise audio with video and measure round-trip times.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable

from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.estimator import DownlinkEstimator
from mosaic.media.sfu.negotiation import (
    DOWN_EXTENSIONS,
    OPUS_PT,
    RTX_PT,
    VP8_PT,
    LocalTransport,
    SlotDescription,
    check_subscribe_answer,
    offer_subscribe,
    remote_transport,
    transport_cc_mids,
)
from mosaic.media.sfu.seam import Transport
from mosaic.media.sfu.send_history import SendHistory, SharedSendHistory
from mosaic.media.sfu.statistics import UplinkEstimate
from mosaic.media.wire.rtcp import (
    Fir,
    Nack,
    Pli,
    ReceiverReport,
    Remb,
    SenderReport,
    compound,
    ntp_from_unix,
    parse_rtcp,
    round_trip_time,
)
from mosaic.media.wire.rtp import (
    FIXED_HEADER_SIZE,
    TRANSPORT_SEQUENCE_OFFSET,
    MalformedPacket,
)
from mosaic.media.wire.sdp import SdpError, parse_sdp
from mosaic.media.wire.twcc import TransportFeedback

log = logging.getLogger(__name__)
MAX_RETRANSMISSIONS_PER_NACK = 32
# A limited repair rate may be saved up for this long (one NACK's burst), and for at least
# this many bytes: a few full packets, the losses of one picture. Below it a squeezed viewer
# got one repair per NACK round and its picture stayed undecodable for seconds (Firefox, which
# asks again and again but sends no PLI, showed nothing for 2.5 s after three lost packets of
# its quarter layer at 200 kbit/s); the rate stays what the budget leaves.
REPAIR_BURST_S = 0.25
REPAIR_BURST_MIN_BYTES = 3_600
# What a REMB is compared with: the rate sent on the streams it covers over about this long
# (aiortc measures what it receives over one second).
SENT_WINDOW_S = 1.0
# ICE and DTLS take well under a second here; a connection still not up after this long will
# not be helped by more keyframe requests.
CONNECTING_GRACE_S = 5.0
# The first byte of an outgoing template that carries the transport-wide sequence number
# (version 2 with the X bit) and the byte before the number (its one-byte element header).
_WITH_EXTENSION = 0x90
_TRANSPORT_CC_ELEMENT = DOWN_EXTENSIONS.transport_cc << 4 | 1
_ELEMENT_AT = FIXED_HEADER_SIZE + 4
assert TRANSPORT_SEQUENCE_OFFSET == _ELEMENT_AT + 1


class SubscribePeer:
    def __init__(
        self,
        participant_id: str,
        transport: Transport,
        send_offer: Callable[[str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.participant_id = participant_id
        self.clock = clock
        self.transport = transport
        self.transport.on_rtcp = self._on_rtcp
        self.transport.on_state = self._on_state
        self._send_offer = send_offer
        self.slots: list[DownTrack] = []
        self.by_ssrc: dict[int, DownTrack] = {}
        self.cname = secrets.token_hex(8)
        self.version = 0
        self.offered: list[SlotDescription] = []
        self.awaiting_answer = False
        self._offering = False
        self.renegotiate = False
        self.started_at: float | None = None
        self._gathered = False
        # Bandwidth toward this subscriber: see `bandwidth`.
        self.remb: float | None = None
        self.loss_estimate = UplinkEstimate(bitrate=3_000_000.0, maximum=8_000_000.0)
        self.fraction_lost = 0.0  # in the receiver's last report (connection quality)
        self.rtcp_ssrc = random.getrandbits(32)
        self.nacks = 0
        self.retransmissions = 0
        self.unrepairable = 0
        self.keyframe_requests = 0
        # Repairs within the viewer's budget (set by the router on its allocation ticks;
        # unlimited until its link pushed back): a squeezed link loses packets because it is
        # full, and resending them at any rate fills it more, so more are lost.
        self.repair_bps = math.inf
        self._repair_credit = 0.0
        self._repair_at = 0.0
        # Transport-wide congestion control: every packet sent is numbered and remembered;
        # what the receiver reports back feeds the estimate (`estimated_bps`).
        # The transport's compiled send path (`mosaic.rtc.fastpath`), if it has one: its
        # `send` is what each slot calls per packet, numbering into `history` as
        # `send_template` does; None (a test's fake transport, the extension not built, or
        # MOSAIC_PURE_PYTHON=1): the slots call `send_template` and `send_rtp`.
        forwarder = getattr(transport, "forwarder", None)
        self.compiled_send: Callable[..., bool] | None = None
        if forwarder is None:
            self.history = SendHistory()
        else:
            self.history = shared = SharedSendHistory()
            times, sizes, cell, capacity = shared.cells()
            forwarder.attach_history(times, sizes, cell, capacity, _TRANSPORT_CC_ELEMENT)
            self.compiled_send = forwarder.send
        self.estimator = DownlinkEstimator()
        self.transport_cc = False  # whether the receiver's answer kept it (on any section)
        self.transport_feedbacks = 0
        self.packets_reported = 0  # sent packets that feedback reported (arrived or lost)
        self.packets_arrived = 0
        self.rembs = 0
        self.receiver_reports = 0
        # (time, payload octets sent) at each REMB, by the slots it covers: see `_sent_bps`.
        self._sent_samples: dict[frozenset[str], deque[tuple[float, int]]] = {}

    @property
    def estimated_bps(self) -> int:
        """What the link to this receiver carries now, by its own reports (transport-wide
        feedback, else REMB, else receiver-report loss): the allocation's budget."""
        return self.estimator.target_bps

    @property
    def rtt_s(self) -> float | None:
        """The round trip to this receiver (from its reports), for its connection quality."""
        return self.estimator.rtt_s

    @property
    def bandwidth(self) -> float:
        """What this subscriber can take. Loss rules: a browser's REMB is computed from what
        it receives and grows to at most about 1.5 times that, so without probing it can
        never vouch for a higher layer than the one sent now; it may only raise the
        estimate, while receiver-reported loss brings it down."""
        loss_based = self.loss_estimate.bitrate
        return max(loss_based, self.remb) if self.remb is not None else loss_based

    def send_rtp(self, packet: bytes | bytearray) -> None:
        self.transport.send_rtp(packet)

    def send_template(self, template: bytearray, now: float) -> None:
        """The forwarding path of a slot whose receiver reads transport-wide numbers: number
        a stamped template, remember it, send it (the transport copies it once, into SRTP,
        before it returns). No allocation kept, no logging, no await."""
        if template[0] == _WITH_EXTENSION and template[_ELEMENT_AT] == _TRANSPORT_CC_ELEMENT:
            self.history.number(template, now)
        self.transport.send_rtp(template)

    @property
    def connected(self) -> bool:
        return self.transport.connected

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def awaits_media(self, now: float) -> bool:
        """Connected, or answered so recently that its connection is still coming up."""
        if self.transport.connected:
            return True
        return self.started_at is not None and now - self.started_at < CONNECTING_GRACE_S

    # -- slots and negotiation -------------------------------------------------------------

    def add_slot(self, kind: str) -> DownTrack:
        mid = str(len(self.slots))
        ssrc, rtx_ssrc = self._new_ssrc(), self._new_ssrc()
        if kind == "audio":
            down = DownTrack(self, kind, mid, ssrc, rtx_ssrc, OPUS_PT, None)
        else:
            down = DownTrack(self, kind, mid, ssrc, rtx_ssrc, VP8_PT, RTX_PT)
        down.rtx_sequence = random.getrandbits(15)
        self.slots.append(down)
        self.by_ssrc[ssrc] = down
        self.by_ssrc[rtx_ssrc] = down
        return down

    def _new_ssrc(self) -> int:
        while True:
            ssrc = random.getrandbits(32)
            if ssrc and ssrc not in self.by_ssrc:
                return ssrc

    def slots_of(self, kind: str) -> list[DownTrack]:
        return [down for down in self.slots if down.kind == kind]

    async def negotiate(self) -> None:
        """Offer the current slots; if an offer is out, offer again once it is answered."""
        if self.awaiting_answer or self._offering:
            self.renegotiate = True
            return
        self._offering = True
        try:
            await self._offer()
        finally:
            self._offering = False

    async def _offer(self) -> None:
        if not self._gathered:
            await self.transport.gather()
            self._gathered = True
        self.renegotiate = False
        self.version += 1
        self.offered = [
            SlotDescription(
                down.mid, down.kind, down.ssrc, down.rtx_ssrc, f"mosaic-{down.mid}", self.cname
            )
            for down in self.slots
        ]
        local = LocalTransport(
            self.transport.ice_username_fragment,
            self.transport.ice_password,
            self.transport.fingerprints(),
            self.transport.local_candidates(),
        )
        self.awaiting_answer = True
        await self._send_offer(str(offer_subscribe(self.offered, local, self.version)))

    async def answer(self, sdp: str) -> bool:
        """Take the browser's answer; True when slots were added meanwhile and another offer
        is due."""
        log.debug("subscriber %s answered", self.participant_id)
        if not self.awaiting_answer:
            raise SdpError("no offer is waiting for an answer")
        answer = parse_sdp(sdp)
        check_subscribe_answer(answer, self.offered)
        remote = remote_transport(answer)
        # Only packets of sections that kept the extension are numbered: a receiver reports
        # every number it could not read as lost.
        numbered = transport_cc_mids(answer)
        self.transport_cc = bool(numbered)
        for down in self.slots:
            down.numbered = down.mid in numbered
        self.awaiting_answer = False
        if self.started_at is None:
            self.started_at = self.clock()
            for candidate in remote.candidates:
                await self.transport.add_remote_candidate(candidate)
            self.transport.start(
                remote_ufrag=remote.ice_ufrag,
                remote_pwd=remote.ice_pwd,
                remote_fingerprints=remote.fingerprints,
                ice_controlling=True,
                dtls_client=remote.setup == "passive",
            )
            # Ask for keyframes now: they arrive while ICE and DTLS finish, and are resent
            # from the cache the moment the connection is up.
            for down in self.slots_of("video"):
                if down.target is not None:
                    down.request_keyframe(self.started_at)
        return self.renegotiate

    async def add_remote_candidate(self, candidate: str | None) -> None:
        await self.transport.add_remote_candidate(candidate)

    def _on_state(self, state: str) -> None:
        log.debug("subscriber %s %s", self.participant_id, state)
        if state == "connected":
            # Whatever was sent before the connection was up is lost, the keyframes that
            # started each video included: every video starts (again) at a fresh keyframe.
            now = self.clock()
            for down in self.slots_of("video"):
                down.reconnected(now)

    # -- feedback in ---------------------------------------------------------------------------

    def _on_rtcp(self, data: bytes) -> None:
        try:
            packets = parse_rtcp(data)
        except MalformedPacket:
            return
        now = self.clock()
        for packet in packets:
            if isinstance(packet, Nack):
                self._retransmit(packet, now)
            elif isinstance(packet, Pli):
                self._keyframe(packet.media_ssrc, now)
            elif isinstance(packet, Fir):
                for ssrc, _ in packet.entries:
                    self._keyframe(ssrc, now)
            elif isinstance(packet, TransportFeedback):
                self.transport_feedbacks += 1
                results = self.history.results(packet)
                if results:
                    self.packets_reported += len(results)
                    self.packets_arrived += sum(r.arrival_time is not None for r in results)
                    self.estimator.on_transport_feedback(results, now)
            elif isinstance(packet, Remb):
                self.remb = float(packet.bitrate)
                self.rembs += 1
                sent = None if self.transport_cc else self._sent_bps(packet.ssrcs, now)
                self.estimator.on_remb(packet.bitrate, now, sent)
            elif isinstance(packet, ReceiverReport | SenderReport):
                self.fraction_lost = self._reports(packet, now)

    def _sent_bps(self, ssrcs: Iterable[int], now: float) -> float | None:
        """What was sent over the last second on the slots whose SSRCs a REMB names
        (media payload, as aiortc counts what it receives): a REMB well under it, after a
        fall, is the congestion signal of a receiver that sends nothing else. None until a
        half second of samples exists. Runs per REMB (a few a second), not per packet."""
        downs = {down.mid: down for ssrc in ssrcs if (down := self.by_ssrc.get(ssrc))}
        if not downs:
            return None
        if len(self._sent_samples) > 16:  # slots come and go: forget old combinations
            self._sent_samples.clear()
        samples = self._sent_samples.setdefault(frozenset(downs), deque())
        octets = sum(down.octets_sent for down in downs.values())
        samples.append((now, octets))
        while len(samples) > 2 and now - samples[1][0] >= SENT_WINDOW_S:
            samples.popleft()
        since, before = samples[0]
        if now - since < 0.5 * SENT_WINDOW_S:
            return None
        return (octets - before) * 8 / (now - since)

    def _reports(self, packet: ReceiverReport | SenderReport, now: float) -> float:
        """Loss (the mean over the media streams' blocks, returned) and round-trip time
        (from the blocks that answer our sender reports) for the estimate; loss for the older
        loss-based one too.

        Not the worst block's, and not the retransmission streams': a receiver counts the
        sparse numbers of RTX and probe padding as losses (aiortc reported a third of them
        lost), and one stream's worst second is not the link's loss; the worst block read as
        congestion paused a viewer on a clean loopback link."""
        blocks = packet.reports
        if not blocks:
            return 0.0
        self.receiver_reports += 1
        media = [
            block
            for block in blocks
            if (down := self.by_ssrc.get(block.ssrc)) is not None and down.ssrc == block.ssrc
        ]
        if not media:
            return 0.0
        worst = sum(block.fraction_lost for block in media) / (256 * len(media))
        self.loss_estimate.on_loss(worst)
        arrival = ntp_from_unix(time.time())
        rtts = [
            rtt
            for block in blocks
            if (rtt := round_trip_time(block.lsr, block.dlsr, arrival)) is not None
        ]
        self.estimator.on_receiver_report(worst, min(rtts) if rtts else None, now)
        return worst

    def _retransmit(self, nack: Nack, now: float) -> None:
        down = self.by_ssrc.get(nack.media_ssrc)
        if down is None or down.ssrc != nack.media_ssrc:
            return
        self.nacks += 1
        limited = self.repair_bps != math.inf
        if limited:
            self._repair_credit = min(
                self._repair_credit + max(now - self._repair_at, 0.0) * self.repair_bps / 8,
                max(self.repair_bps * REPAIR_BURST_S / 8, REPAIR_BURST_MIN_BYTES),
            )
            self._repair_at = now
        for out_seq in nack.lost[:MAX_RETRANSMISSIONS_PER_NACK]:
            if limited and self._repair_credit <= 0:
                self.unrepairable += 1
                continue
            packet = down.retransmission(out_seq, now)
            if packet is None:
                self.unrepairable += 1
            else:
                self._repair_credit -= len(packet)
                self.retransmissions += 1
                if down.numbered:
                    self.send_template(bytearray(packet), now)
                else:
                    self.transport.send_rtp(packet)

    def _keyframe(self, ssrc: int, now: float) -> None:
        down = self.by_ssrc.get(ssrc)
        if down is not None:
            self.keyframe_requests += 1
            down.request_keyframe(now)

    # -- reports out ---------------------------------------------------------------------------

    def send_reports(self, now: float) -> None:
        """A sender report for every slot that has sent something (about once a second)."""
        wall = time.time()
        reports = [
            SenderReport(
                down.ssrc,
                ntp_from_unix(wall),
                down.rtp_time(now),
                down.packets_sent,
                down.octets_sent,
            )
            for down in self.slots
            if down.packets_sent
        ]
        if reports:
            self.transport.send_rtcp(compound(*reports))

    async def close(self) -> None:
        """Stop sending, and drop the slots: each one points back here (a cycle that would
        keep this connection until a full garbage collection)."""
        for down in self.slots:
            down.detach()
        self.slots.clear()
        self.by_ssrc.clear()
        await self.transport.close()
