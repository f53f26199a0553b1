"""Down tracks: media going out, to a subscriber or to a relay.

A `DownTrack` is one sending slot: one SSRC (and its RTX SSRC) on a `seam.Downlink`. It
forwards one up stream at a time (a `seam.Feed`) and switches between them on keyframes;
its `SequenceRewriter` keeps what the receiver sees one continuous stream. It asks its feed
for keyframes and for the packets a receiver lost, and knows nothing else of it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from mosaic.media.sfu.seam import Downlink, Feed
from mosaic.media.sfu.sequencer import MAX_JUMP, SequenceRewriter
from mosaic.media.wire.rtp import RtpHeader, build_rtx, stamp
from mosaic.rtc import fastpath

if TYPE_CHECKING:
    from mosaic.media.sfu.up import UpTrack


class DownTrack:
    """One sending slot (a `seam.Sink`)."""

    # Slots: the compiled fan-out (`fastpath.fanout`) reads and writes the forwarding state
    # where they are, as the Python `write` does.
    __slots__ = (
        "_forward",
        "_in_order",
        "_picture_last",
        "_picture_offset",
        "_tl0_last",
        "_tl0_offset",
        "_vp8_pending",
        "_vp8_shift",
        "clock_rate",
        "connection",
        "kind",
        "mid",
        "numbered",
        "octets_sent",
        "packets_sent",
        "payload_type",
        "retransmitted",
        "rewriter",
        "rtx_payload_type",
        "rtx_sequence",
        "rtx_ssrc",
        "source",
        "ssrc",
        "target",
        "track",
        "want_height",
        "want_width",
    )

    def __init__(
        self,
        connection: Downlink,
        kind: str,
        mid: str,
        ssrc: int,
        rtx_ssrc: int,
        payload_type: int,
        rtx_payload_type: int | None,
    ) -> None:
        self.connection = connection
        self.kind = kind
        self.mid = mid
        self.ssrc = ssrc
        self.rtx_ssrc = rtx_ssrc
        self.payload_type = payload_type
        self.rtx_payload_type = rtx_payload_type
        self.rewriter = SequenceRewriter()
        self.clock_rate = 48000 if kind == "audio" else 90000
        # What this slot shows: the router's choice (`assign`); the allocation picks one of
        # its streams (`want`).
        self.track: UpTrack | None = None
        self.source: Feed | None = None  # the stream forwarded right now
        self.target: Feed | None = None  # the stream to switch to at its next keyframe
        self.packets_sent = 0
        self.octets_sent = 0
        self.retransmitted = 0
        self.rtx_sequence = 0
        self.want_width = 0
        self.want_height = 0
        # Whether the receiver reads this slot's transport-wide sequence numbers (its answer
        # kept the extension for this section): then the connection numbers each packet.
        self.numbered = False
        # The connection's compiled send path, if it has one (`SubscribePeer.compiled_send`):
        # one call stamps, numbers, protects and sends; False while it is not armed (not
        # connected, or through a TURN relay), and the pure-Python path below runs.
        self._forward: Callable[..., bool] | None = getattr(connection, "compiled_send", None)
        # The rewriter's in-order case compiled (`fastpath.in_order_rewriter`): None for any
        # other case, which the Python `rewrite` then handles; None itself where not built.
        self._in_order = fastpath.in_order_rewriter(SequenceRewriter, MAX_JUMP)
        # VP8 picture numbering (RFC 7741 §4.2), kept one sequence across switches as the
        # sequence numbers are: each simulcast layer numbers its own pictures, and a receiver
        # that saw them jump at a switch (Firefox, Chromium) decoded nothing or kept a stale
        # size for seconds. out = in + offset (PictureID mod 2^15, TL0PICIDX mod 2^8); an
        # offset is None from a switch until the first packet that carries its field, which
        # then continues from the last one sent + 1 (`_vp8_begin`).
        self._picture_offset: int | None = None
        self._tl0_offset: int | None = None
        self._picture_last = -1  # the last sent when the source last changed, -1: none
        self._tl0_last = -1
        self._vp8_pending = True  # an offset is still None
        self._vp8_shift = False  # an offset is not 0: the template is written and restored

    # -- the forwarding path (seam.Sink) ---------------------------------------------------

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        in_order = self._in_order
        mapped = (
            None
            if in_order is None
            else in_order(self.rewriter, header.sequence_number, header.timestamp, now)
        )
        if mapped is None:
            mapped = self.rewriter.rewrite(header.sequence_number, header.timestamp, now)
            if mapped is None:
                return
        ids = header.vp8_ids
        shifted = False
        if ids is not None:
            if self._vp8_pending:
                self._vp8_begin(ids)
            if self._vp8_shift:
                _write_ids(template, ids, self._picture_offset or 0, self._tl0_offset or 0)
                shifted = True
        forward = self._forward
        if forward is None or not forward(
            template,
            self.payload_type | 0x80 if header.marker else self.payload_type,
            mapped[0],
            mapped[1],
            self.ssrc,
            now,
            self.numbered,
        ):
            stamp(template, self.payload_type, header.marker, mapped[0], mapped[1], self.ssrc)
            if self.numbered:
                self.connection.send_template(template, now)
            else:
                self.connection.send_rtp(template)  # copied once, into SRTP (`seam.Downlink`)
        if shifted:
            # Both paths copied the template at once: the next sink finds the source's IDs.
            _write_ids(template, ids, 0, 0)  # type: ignore[arg-type]
        self.packets_sent += 1
        self.octets_sent += header.payload_end - header.payload_offset

    def _vp8_begin(self, ids: tuple[int, int, int, int, int]) -> None:
        """The first packet since a switch that carries a PictureID (or a TL0PICIDX) sets
        its offset: it follows the last one sent (the source's own when none was)."""
        picture_at, picture_id, _, tl0_at, tl0 = ids
        if picture_at and self._picture_offset is None:
            last = self._picture_last
            self._picture_offset = 0 if last < 0 else (last + 1 - picture_id) & 0x7FFF
        if tl0_at and self._tl0_offset is None:
            last = self._tl0_last
            self._tl0_offset = 0 if last < 0 else (last + 1 - tl0) & 0xFF
        self._vp8_pending = self._picture_offset is None or self._tl0_offset is None
        self._vp8_shift = bool(self._picture_offset or self._tl0_offset)

    def _vp8_leave(self) -> None:
        """The source changes: remember where its numbering stopped on the way out (its
        newest PictureID and TL0PICIDX, which this slot forwarded, plus the offsets)."""
        source = self.source
        if source is None:
            return
        newest = getattr(source, "picture_id", -1)  # an `UpStream`'s; -1: none seen
        if newest >= 0 and self._picture_offset is not None:
            self._picture_last = (newest + self._picture_offset) & 0x7FFF
        newest = getattr(source, "tl0picidx", -1)
        if newest >= 0 and self._tl0_offset is not None:
            self._tl0_last = (newest + self._tl0_offset) & 0xFF
        self._picture_offset = self._tl0_offset = None
        self._vp8_pending = True
        self._vp8_shift = False

    def skip(self, sequence_number: int) -> None:
        self.rewriter.drop(sequence_number)

    @property
    def ready(self) -> bool:
        return self.connection.connected

    def awaits_media(self, now: float) -> bool:
        return self.connection.awaits_media(now)

    def start(self, feed: Feed, now: float) -> None:
        """Forward ``feed`` from its next packet on (a keyframe, for video)."""
        self._cancel_target()
        if self.source is not None:
            self._vp8_leave()
            self.source.remove_down(self)
        self.source = feed
        feed.add_down(self)
        # Weakly: the rewriter remembers former sources (to map NACKs) long after they are
        # gone, and a strong reference kept a departed publisher's packet cache, track and
        # connection alive through every slot that ever showed it.
        self.rewriter.switch(now, feed.clock_rate, weakref.ref(feed))

    def detach(self) -> None:
        """Forward nothing (the feed is gone, or another one is coming)."""
        self._cancel_target()
        if self.source is not None:
            self._vp8_leave()
            self.source.remove_down(self)
        self.source = None

    # -- choosing what to forward ----------------------------------------------------------

    def want(self, feed: Feed, now: float) -> None:
        """Switch to ``feed``: at once for audio, at its next keyframe for video."""
        if feed is self.source:
            self._cancel_target()
            return
        if self.kind == "audio":
            self.start(feed, now)
            return
        if feed is self.target:
            return
        self._cancel_target()
        self.target = feed
        feed.wait_keyframe(self)
        # Until the subscriber has answered, its connection may be seconds away: ask for a
        # keyframe once it has (the keyframe is kept and resent when it connects).
        if self.connection.started:
            feed.request_keyframe(now)

    def _cancel_target(self) -> None:
        if self.target is not None:
            self.target.cancel_wait(self)
        self.target = None

    def assign(self, track: UpTrack | None) -> None:
        """Show another track in this slot (or none): stop forwarding the old one now."""
        if track is self.track:
            return
        self.detach()
        self.track = track

    def reconnected(self, now: float) -> None:
        """The connection came up: whatever was sent before is lost, the keyframe that
        started the video included, so it starts again at a fresh keyframe (a cached one if
        recent enough, else the next)."""
        feed = self.target or self.source
        if feed is None:
            return
        self.detach()
        if not feed.catch_up(self, now):
            self.want(feed, now)

    # -- feedback from the receiver ------------------------------------------------------------

    def request_keyframe(self, now: float) -> None:
        """The receiver lost its picture (PLI/FIR), or is about to start: ask for one."""
        feed = self.target or self.source
        if feed is not None:
            feed.request_keyframe(now)

    def retransmission(self, out_seq: int, now: float) -> bytes | None:
        """An RTX packet (RFC 4588) repairing ``out_seq``, from the feed's cache; None for a
        packet of a stream this slot no longer forwards.

        After a switch (a squeezed viewer moved down a layer, or paused) the receiver still
        asks for the old layer's packets that its full link dropped; they would only show
        pictures that the new layer's keyframe replaces, and resending them on that link
        took the repair budget the new keyframe's lost packets needed: a Firefox viewer
        squeezed to 200 kbit/s waited seconds for its quarter layer's first picture."""
        origin = self.rewriter.locate(out_seq)
        if origin is None or self.rtx_payload_type is None or origin.tag is None:
            return None
        feed: Feed | None = origin.tag()  # None once that stream's publisher is gone
        if feed is None or feed is not self.source:
            return None
        found = feed.resend(origin.sequence_number, now)
        if found is None:
            return None
        template, header = found
        timestamp = (header.timestamp + origin.timestamp_offset) & 0xFFFFFFFF
        stamp(template, self.payload_type, header.marker, out_seq, timestamp, self.ssrc)
        ids = header.vp8_ids
        if ids is not None:  # the IDs it was first sent with (its segment's offsets)
            _write_ids(template, ids, self._picture_offset or 0, self._tl0_offset or 0)
        self.rtx_sequence = (self.rtx_sequence + 1) & 0xFFFF
        self.retransmitted += 1
        return build_rtx(
            template,
            rtx_payload_type=self.rtx_payload_type,
            rtx_sequence_number=self.rtx_sequence,
            rtx_ssrc=self.rtx_ssrc,
        )

    def rtp_time(self, now: float) -> int:
        return self.rewriter.rtp_time_now(now, self.clock_rate)


fastpath.bind_fanout(DownTrack)


def _write_ids(
    template: bytearray, ids: tuple[int, int, int, int, int], picture_offset: int, tl0_offset: int
) -> None:
    """Write ``ids``' PictureID and TL0PICIDX plus the offsets (0, 0: the source's own)."""
    picture_at, picture_id, mask, tl0_at, tl0 = ids
    if picture_at:
        out = (picture_id + picture_offset) & mask
        if mask == 0x7F:
            template[picture_at] = out
        else:
            template[picture_at] = 0x80 | out >> 8
            template[picture_at + 1] = out & 0xFF
    if tl0_at:
        template[tl0_at] = (tl0 + tl0_offset) & 0xFF
