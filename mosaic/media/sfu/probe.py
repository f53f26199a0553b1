"""Probing upward: testing a higher rate toward a viewer before moving it up a layer.

A downlink estimate only rises as far as what the viewer is seen to receive (a browser's REMB
grows to about 1.5 times it, a delay-based estimate likewise), so a viewer held on a low layer,
or paused, could never earn the bandwidth to leave it. A probe sends more for a moment:
padding-only packets on each video slot's RTX SSRC (as browsers probe; the receiver counts
them for its estimate and discards them, so no picture depends on them, paused or not),
at the rate the next step up would add. If the link carries it the estimate rises and the
allocation moves up after its hold; if not, the estimate falls, nothing visible changed, and the
next probe waits twice as long (up to `MAX_INTERVAL_S`).

Runs on the router's ticks (every 50 ms), a few packets per tick while a probe lasts; nothing
on the per-packet path.
"""

from __future__ import annotations

import math

from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.wire.rtp import stamp

# A receiver that sends transport-wide feedback tells the delivered rate within a quarter
# second; a REMB-only one (aiortc) measures its incoming rate over a second.
PROBE_S = 0.5
REMB_PROBE_S = 1.0
MIN_INTERVAL_S = 2.0
# After a probe that raised the estimate, the next may follow this soon: a viewer climbing
# back from a pause needs a few probes in a row (each at most `MAX_TOTAL_SHARE` x its budget).
AFTER_SUCCESS_S = 0.5
MAX_INTERVAL_S = 16.0
# A video just paused (even its lowest layer did not fit) is not probed for this long: its
# link has only just failed to carry the lowest layer, and the audio is all its viewer still
# gets; a probe there fills the queue the audio needs (a Firefox viewer at 64 kbit/s lost its
# speaker for 220-340 ms at each probe 3 s after the pause). After it, a failed probe is
# retried `MIN_INTERVAL_S` later, then backs off: probes that failed on the way down put the
# first one after the link came back 4-9 s later, and the video was back 9-10 s after the
# link. A receiver that numbers only its video (Firefox) sends no feedback at all while
# paused, so probes are its only way back.
QUIET_AFTER_PAUSE_S = 7.0
# A probe adds at least this (smaller ones tell an estimator nothing)...
MIN_PROBE_BPS = 50_000.0
# ... and brings what the receiver gets to this multiple of the total its next step needs:
# the estimate rises to the rate delivered during the probe (smoothed, so a little more).
GOAL_MARGIN = 1.2
# ... and at most this multiple of the current budget: the allocation asks for probes only
# when the viewer uses well under its budget (see `allocation.PROBE_BELOW_USE`), and a short
# burst at twice the estimate is how GCC probes too.
MAX_PROBE_SHARE = 2.0
# With a goal: what the receiver gets during a probe is at most this multiple of the budget
# (a probe far past the link only fills its queue, delaying the audio behind it).
MAX_TOTAL_SHARE = 3.0
# A probe's result is read this long after its end (feedback on its last packets).
RESULT_LAG_S = 0.3
# An estimate this much higher after a probe counts as a success.
SUCCESS_GAIN = 1.05
PADDING_BIT = 0x20
# RTP padding: its last byte counts the padding bytes, itself included (255 at most).
PADDING = bytes(254) + bytes([255])


class Prober:
    """Probes for one subscribe connection: when to start one, and its packets per tick."""

    __slots__ = ("_best", "_credit", "_cursor", "_last_tick", "budget_before", "interval",
                 "next_at", "packets", "rate_bps", "until")  # fmt: skip

    def __init__(self) -> None:
        self.until = -math.inf  # when the running probe ends
        self.next_at = -math.inf  # no probe before this
        self.interval = MIN_INTERVAL_S
        self.rate_bps = 0.0
        self.budget_before = 0.0
        self.packets = 0  # probe packets sent, for statistics
        self._credit = 0.0  # bytes owed to the running probe
        self._last_tick: float | None = None
        self._cursor = 0
        self._best: int | None = None  # the best quarter second delivered during the probe

    @property
    def active(self) -> bool:
        return self._last_tick is not None

    def consider(
        self,
        shortfall_bps: float,
        budget_bps: float,
        now: float,
        *,
        remb_only: bool = False,
        goal_bps: float = 0.0,
        sent_bps: float = 0.0,
    ) -> None:
        """After an allocation: start a probe when a step up is ``shortfall_bps`` away and
        none ran lately; judge the one that just ended by the budget it left. With the total
        the step needs (``goal_bps``) and what is sent now (``sent_bps``), the probe fills the
        gap between them: a paused viewer sent only audio must be made to receive the lowest
        layer's whole rate, not its shortfall on top of the audio, for the estimate to reach
        it (the estimate rises to what was delivered)."""
        if self._last_tick is not None:
            if self._last_tick < self.until + RESULT_LAG_S:
                return  # running, or its result not yet read (`tick` reads it)
            self._last_tick = None
            self._judge(budget_bps, now)
        if shortfall_bps <= 0 or now < self.next_at:
            return
        # Twice the shortfall: what the receiver is seen to get is smoothed over the probe
        # and what came before, so a probe of just the shortfall would fall short of it.
        wanted = max(2 * shortfall_bps, MIN_PROBE_BPS)
        cap = budget_bps * MAX_PROBE_SHARE
        if goal_bps > 0:
            # The total delivered is what counts, so the cap is on the total too.
            wanted = max(GOAL_MARGIN * goal_bps - sent_bps, MIN_PROBE_BPS)
            cap = max(budget_bps * MAX_TOTAL_SHARE - sent_bps, MIN_PROBE_BPS)
        self.rate_bps = min(wanted, cap)
        self.budget_before = budget_bps
        self.until = now + (REMB_PROBE_S if remb_only else PROBE_S)
        self._credit = 0.0
        self._best = None
        self._last_tick = now

    def paused(self, now: float) -> None:
        """A video of this viewer was just paused: no probe before `QUIET_AFTER_PAUSE_S`,
        then a back-off from the shortest interval. The quiet replaces the back-off: probes
        that failed on the way down (on a link that was falling) say nothing of when it comes
        back."""
        self.next_at = now + QUIET_AFTER_PAUSE_S
        self.interval = MIN_INTERVAL_S / 2  # doubled by a failure: retried MIN_INTERVAL_S later

    def _judge(self, budget_bps: float, now: float) -> None:
        """A probe that raised the estimate may be followed soon; one that did not, later."""
        if budget_bps >= self.budget_before * SUCCESS_GAIN:
            self.interval = MIN_INTERVAL_S
            self.next_at = now + AFTER_SUCCESS_S
        else:
            self.interval = min(self.interval * 2, MAX_INTERVAL_S)
            self.next_at = now + self.interval

    def tick(self, peer: SubscribePeer, now: float) -> None:
        """Send this tick's share of the running probe (nothing when none runs). At its end,
        the rate the receiver was seen to get (transport-wide feedback) is handed to the
        estimator: a link that carried the probe lets the estimate jump there at once."""
        last = self._last_tick
        if last is None:
            return
        if now >= self.until:
            # The feedback on the probe's last packets comes a round trip later.
            if self.until + RESULT_LAG_S <= last:
                return  # told already
            self._note(peer)
            if now >= self.until + RESULT_LAG_S:
                if self._best is not None:
                    peer.estimator.probe_result(self._best, now)
                self._last_tick = self.until + RESULT_LAG_S
            return
        self._note(peer)
        self._credit += self.rate_bps * max(0.0, now - last) / 8
        self._last_tick = now
        videos = [down for down in peer.slots if down.kind == "video" and down.track is not None]
        if not videos:
            return
        misses = 0
        while self._credit > 0 and misses < len(videos):
            self._cursor += 1
            packet = padding(videos[self._cursor % len(videos)], now)
            if packet is None:
                misses += 1
                continue
            peer.send_rtp(packet)
            self.packets += 1
            self._credit -= len(packet)

    def _note(self, peer: SubscribePeer) -> None:
        latest = peer.estimator.latest_delivered_bps
        if latest is not None and (self._best is None or latest > self._best):
            self._best = latest


def padding(down: DownTrack, now: float) -> bytes | None:
    """A padding-only packet on the slot's RTX SSRC (RFC 3550 §5.1 padding, as browsers probe):
    the header and extensions of the newest packet of the slot's track (so it carries a fresh
    abs-send-time, and a transport-wide number where the receiver reads them), no payload,
    255 bytes of padding. Receivers count it for their estimate and discard it: no picture
    depends on it, paused or not."""
    track = down.track
    if track is None or down.rtx_payload_type is None or not track.streams:
        return None
    stream = track.streams[0]
    found = stream.resend(stream.stats.max_seq, now)
    if found is None:
        return None
    template, header = found
    # The template is its own header (our extensions) followed by the payload: keep the header.
    del template[len(template) - (header.payload_end - header.payload_offset) :]
    template.extend(PADDING)
    down.rtx_sequence = (down.rtx_sequence + 1) & 0xFFFF
    stamp(
        template,
        down.rtx_payload_type,
        False,
        down.rtx_sequence,
        down.rtp_time(now),
        down.rtx_ssrc,
    )
    template[0] |= PADDING_BIT
    if down.numbered:
        connection = down.connection
        if isinstance(connection, SubscribePeer):
            connection.history.number(template, now)
    return bytes(template)
