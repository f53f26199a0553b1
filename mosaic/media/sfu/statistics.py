"""Reception statistics of one incoming RTP stream, for receiver reports (RFC 3550 §6.4.1,
appendix A.3 and A.8), and a loss-based estimate of the publisher's uplink.

The SFU is the receiver of every publisher's streams, so it owes each of them reports: they
drive the browser's loss statistics, its round-trip time and its bandwidth estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

from mosaic.media.wire.rtcp import ReportBlock


@dataclass(slots=True)
class ReceptionStats:
    clock_rate: int
    base_seq: int = -1
    max_seq: int = 0
    cycles: int = 0
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    jitter: float = 0.0
    last_transit: float | None = None
    bytes_received: int = 0
    # Middle 32 bits of the NTP time of the last sender report, and when it arrived.
    last_sr: int = 0
    last_sr_arrival: float = 0.0
    # The last sender report's whole NTP time and the RTP time it names (0, 0: none yet):
    # the recorder lines a publisher's audio and video up with it (RFC 3550 §6.4.1).
    sr_ntp: int = 0
    sr_rtp: int = 0
    # Numbers the sender skipped on purpose (see `skip_gap`): not expected, so not lost.
    skipped: int = 0

    def update(self, sequence_number: int, timestamp: int, arrival: float, size: int) -> None:
        """One packet arrived (RFC 3550 A.1 sequence tracking, A.8 interarrival jitter)."""
        self.received += 1
        self.bytes_received += size
        if self.base_seq < 0:
            self.base_seq = self.max_seq = sequence_number
        else:
            delta = (sequence_number - self.max_seq) & 0xFFFF
            if 0 < delta < 0x8000:
                if sequence_number < self.max_seq:
                    self.cycles += 0x10000
                self.max_seq = sequence_number
            elif delta > 0xFFFF - 3000 or delta == 0:
                pass  # late or duplicate
            else:
                # A jump far ahead: the sender restarted its sequence; start over.
                self.base_seq = self.max_seq = sequence_number
                self.cycles = 0
                self.received = 1
                self.expected_prior = self.received_prior = self.skipped = 0
        transit = arrival * self.clock_rate - timestamp
        if self.last_transit is not None:
            d = abs(transit - self.last_transit)
            if d < self.clock_rate * 10:  # ignore timestamp jumps (a new segment)
                self.jitter += (d - self.jitter) / 16.0
        self.last_transit = transit

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return 0 if self.base_seq < 0 else self.extended_max - self.base_seq + 1 - self.skipped

    def skip_gap(self, sequence_number: int) -> None:
        """The packet about to be counted resumes a stream its sender had stopped: the
        numbers between the last one and it are not expected. Chromium drops what its pacer
        still held for a simulcast layer it stops, numbers given; counted as lost, that gap
        read as 50 % loss when the layer came back, and the uplink limit cut again."""
        if self.base_seq >= 0:
            gap = ((sequence_number - self.max_seq) & 0xFFFF) - 1
            if 0 < gap < 0x7FFF:
                self.skipped += gap

    def sender_report(self, ntp_timestamp: int, arrival: float, rtp_timestamp: int = 0) -> None:
        self.last_sr = (ntp_timestamp >> 16) & 0xFFFFFFFF
        self.last_sr_arrival = arrival
        self.sr_ntp = ntp_timestamp
        self.sr_rtp = rtp_timestamp

    def report_block(self, ssrc: int, now: float) -> tuple[ReportBlock, float]:
        """The report block for this stream, and the fraction lost in this interval (0..1)."""
        expected = self.expected
        lost_total = max(0, expected - self.received)
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        fraction = 0.0
        if expected_interval > 0 and lost_interval > 0:
            fraction = lost_interval / expected_interval
        dlsr = 0
        if self.last_sr:
            dlsr = int((now - self.last_sr_arrival) * 65536) & 0xFFFFFFFF
        block = ReportBlock(
            ssrc=ssrc,
            fraction_lost=min(255, int(fraction * 256)),
            packets_lost=min(lost_total, 0x7FFFFF),
            highest_sequence=self.extended_max & 0xFFFFFFFF,
            jitter=int(self.jitter),
            lsr=self.last_sr,
            dlsr=dlsr,
        )
        return block, fraction


@dataclass(slots=True)
class UplinkEstimate:
    """What a publisher may send us, from the loss we see (the loss-based half of Google's
    congestion control): grow 5% per report while loss stays under 2%, hold up to 10%,
    shrink in proportion above. Sent back to the browser as REMB, which it needs: with no
    feedback at all, Chromium keeps its estimate low and pauses the high simulcast layer."""

    bitrate: float = 2_500_000.0
    minimum: float = 150_000.0
    maximum: float = 4_000_000.0

    def on_loss(self, fraction_lost: float) -> float:
        if fraction_lost < 0.02:
            self.bitrate *= 1.05
        elif fraction_lost > 0.10:
            self.bitrate *= 1.0 - 0.5 * fraction_lost
        self.bitrate = max(self.minimum, min(self.maximum, self.bitrate))
        return self.bitrate
