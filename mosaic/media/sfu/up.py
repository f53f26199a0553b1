"""Up tracks: media coming in, from a publisher or from a relay.

An `UpTrack` is one published source (a microphone, a camera, a screen); it arrives as one
`UpStream` per SSRC: one, or one per simulcast layer. An up stream owns what the down tracks
it feeds rely on: their list (and the ones waiting for its next keyframe), its packet cache
(NACKs from every receiver are answered from it) and its keyframe state. Down tracks reach it
only through `seam.Feed`; it reaches them only through `seam.Sink`; the publisher behind it
only through `seam.Uplink`.

This is the forwarding path: per packet, one header read, one template built, and per receiver
a 12-byte stamp, an SRTP encryption and a `sendto`. No logging, no awaits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import DOWN_EXTENSIONS
from mosaic.media.sfu.packet_cache import NackTracker, PacketCache
from mosaic.media.sfu.seam import Sink, Uplink
from mosaic.media.sfu.simulcast import BitrateMeter, Layer, LayerHealth
from mosaic.media.sfu.statistics import ReceptionStats
from mosaic.media.sfu.uplink_limit import UplinkLimit
from mosaic.media.wire.codecs import is_keyframe, vp8_picture_ids, vp8_picture_size
from mosaic.media.wire.rtp import (
    ExtensionIds,
    MalformedPacket,
    RtpHeader,
    RtpWriter,
    parse_rtp,
    set_abs_send_time,
)
from mosaic.rtc import fastpath

if TYPE_CHECKING:
    from mosaic.media.sfu.negotiation import PublishedSection

log = logging.getLogger(__name__)
# Every subscribe connection numbers its extensions alike, so one template per packet serves all.
WRITERS = {kind: RtpWriter(kind, DOWN_EXTENSIONS) for kind in ("audio", "video")}

# The order browsers name their layers, smallest first (Mosaic's client uses q, h, f).
RID_ORDER = {"q": 0, "l": 0, "lo": 0, "h": 1, "m": 1, "mid": 1, "f": 2, "hi": 2}
# Chromium drops keyframe requests that arrive within 300 ms of the previous one (for any
# layer); ours stay clear of that window, and a request left unanswered is repeated.
KEYFRAME_REQUEST_INTERVAL = 0.35
KEYFRAME_RETRY_S = 0.4
# How long requests are repeated for a keyframe a subscriber asked for (its PLI, or ours to
# the publisher, may be lost; Chromium itself asks again only after 3 s without a picture).
KEYFRAME_WANTED_S = 2.5
# A cached keyframe this recent is resent to a subscriber that just connected, rather than
# asking the publisher for another and waiting.
CATCH_UP_S = 0.5
# Packets kept to answer NACKs and to catch a subscriber up from a keyframe: this long of each
# stream (the cache grows with the bitrate; see `PacketCache`).
CACHE_HISTORY_S = 2.0
STREAM_STALE_AFTER = 1.5
# A layer with no packet for this long while another layer of its track still flows has
# stopped: the publisher's own estimate dropped and its browser sends fewer layers. Viewers on
# it move to a layer still flowing (at the next allocation, a quarter of a second later).
LAYER_GONE_AFTER = 0.5
# A layer that comes back counts again once it has flowed this long: a publisher whose
# estimate hovers may restart and stop a layer, and each move onto it costs a keyframe.
LAYER_BACK_AFTER = 1.0

AudioLevelListener = Callable[["UpTrack", int, float], None]


def _no_audio_level(track: UpTrack, level: int, now: float) -> None:
    """Until a router listens (see `Router.add_track`)."""


class UpStream:
    """One SSRC of an up track (a `seam.Feed`)."""

    __slots__ = (
        "__weakref__",
        "audio",
        "cache",
        "downs",
        "health",
        "height",
        "keep",
        "keyframe_seq",
        "keyframe_time",
        "keyframe_wanted",
        "lane",
        "last_packet",
        "make_template",
        "meter",
        "nack",
        "pending",
        "picture_id",
        "picture_ids",
        "resumed_at",
        "rid",
        "ssrc",
        "stats",
        "stats_update",
        "tl0picidx",
        "track",
        "vp8",
        "width",
        "write_all",
        "writer",
    )

    def __init__(self, track: UpTrack, ssrc: int, rid: str | None) -> None:
        self.track = track
        self.ssrc = ssrc
        self.rid = rid
        self.stats = ReceptionStats(track.clock_rate)
        # `ReceptionStats.update` compiled (`fastpath.stats_updater`), None where not built.
        self.stats_update = fastpath.stats_updater(ReceptionStats)
        video = track.kind == "video"
        self.cache = PacketCache(64, max_capacity=1024 if video else 256, history_s=CACHE_HISTORY_S)
        self.nack = NackTracker() if video else None
        # The meter, the NACK tracker and the cache fed in one compiled call in the common
        # case (`fastpath.keeper`), None where not built.
        self.keep = fastpath.keeper(BitrateMeter, NackTracker, PacketCache)
        self.downs: list[Sink] = []  # fed from every packet
        # Every down's `write` in one compiled call (`fastpath.fanout`), None where not built.
        self.write_all = fastpath.fanout()
        self.pending: list[Sink] = []  # started at the next keyframe
        self.meter = BitrateMeter()
        self.health = LayerHealth()  # judged on the ticks (see `UpTrack.tick`)
        self.width = 0
        self.height = 0
        self.keyframe_seq = -1
        self.keyframe_time = -1e9
        self.keyframe_wanted: float | None = None  # since when a keyframe is asked for
        self.last_packet = 0.0
        self.resumed_at = 0.0  # when packets last began to flow after a gap
        self.writer = WRITERS[track.kind]
        # Its `template` and `set_abs_send_time` in one compiled call (`fastpath
        # .template_maker`): None for what it leaves to them, and where not built.
        self.make_template = fastpath.template_maker(RtpWriter, RtpHeader, ExtensionIds)
        self.audio = track.kind == "audio"
        # Whether its packets carry a VP8 payload descriptor whose picture numbering each
        # down track rewrites (see `template`).
        self.vp8 = track.kind == "video" and track.codec.lower() == "vp8"
        # `vp8_picture_ids`, compiled where built (`fastpath.vp8_ids_reader`): same results.
        self.picture_ids = fastpath.vp8_ids_reader(vp8_picture_ids)
        # The newest VP8 PictureID (15 bits; a 7-bit one extended) and TL0PICIDX forwarded,
        # -1 before any: where a down track leaving this stream stopped (`DownTrack.start`).
        self.picture_id = -1
        self.tl0picidx = -1
        # `receive` for a packet in its common case in one compiled call (`fastpath
        # .receiver`, through the lanes above): None where not built.
        self.lane = fastpath.receiver(UpStream, RtpHeader, ExtensionIds, LAYER_GONE_AFTER)

    @property
    def clock_rate(self) -> int:
        return self.track.clock_rate

    # -- the forwarding path ---------------------------------------------------------------

    def receive(self, data: bytes, header: RtpHeader, now: float) -> None:
        """One media packet from the uplink (RTX already unwrapped)."""
        lane = self.lane
        if lane is not None and lane(self, data, header, now):
            return
        sequence_number = header.sequence_number
        resumed = now - self.last_packet > LAYER_GONE_AFTER
        if (
            resumed
            and self.last_packet
            and header.payload_end != header.payload_offset
            and self._siblings_flowed()
        ):
            # The browser stopped this layer and starts it again: the numbers it skipped
            # meanwhile (what its pacer dropped) are not loss. (They are still NACKed: a
            # packet really lost there is repaired, one never sent is not answered.)
            self.stats.skip_gap(sequence_number)
        size = len(data)
        stats_update = self.stats_update
        if stats_update is None or not stats_update(
            self.stats, sequence_number, header.timestamp, now, size
        ):
            self.stats.update(sequence_number, header.timestamp, now, size)
        track = self.track
        padding = header.payload_end == header.payload_offset
        keep = self.keep
        if (
            padding
            or keep is None
            or not keep(self.meter, self.nack, self.cache, sequence_number, data, size, now)
        ):
            self.meter.add(size, now)
            if self.nack is not None:
                lost = self.nack.received(sequence_number, now)
                if lost:
                    track.uplink.send_nack(self.ssrc, lost)
            if padding:
                # Padding only (bandwidth probing): nothing to forward.
                for down in self.downs:
                    down.skip(sequence_number)
                return
            self.cache.store(sequence_number, data, now)
        # Liveness counts media only: a browser keeps probing with padding on a layer it has
        # stopped sending pictures on.
        if resumed:
            self.resumed_at = now
        self.last_packet = now
        if self.audio:
            if header.audio_level is not None:
                track.on_audio_level(track, header.audio_level, now)
        elif self.pending or not self.width or self.keyframe_wanted is not None:
            payload = memoryview(data)[header.payload_offset : header.payload_end]
            if is_keyframe(track.codec, payload):
                self._keyframe(sequence_number, payload, now)
        downs = self.downs
        if not downs:
            return
        template = self.template(data, header, now)
        write_all = self.write_all
        if write_all is None:
            for down in downs:
                down.write(template, header, now)
        else:
            write_all(downs, template, header, now)

    def _siblings_flowed(self) -> bool:
        """Whether another layer of the track arrived while this one was silent: then the
        browser chose to stop this one (simulcast). A gap while nothing else came is an
        uplink that lost everything, and that is loss, or a starved publisher would read
        as clean (its silences under `SILENT_AFTER_S` hidden)."""
        since = self.last_packet
        return any(s is not self and s.last_packet > since for s in self.track.streams)

    def template(self, data: bytes, header: RtpHeader, now: float) -> bytearray:
        """The outgoing packet, stamped per receiver by `Sink.write`; a video one says when
        it left (abs-send-time, for the receiver's bandwidth estimate). A VP8 one's PictureID
        and TL0PICIDX are located here, once, in ``header.vp8_ids`` (offsets into the
        template), for each down track to renumber in place (`DownTrack.write`)."""
        writer = self.writer
        make = self.make_template
        template = None if make is None else make(writer, data, header, now)
        if template is None:
            template = writer.template(data, header)
            if writer.abs_send_time_offset is not None:
                set_abs_send_time(template, writer.abs_send_time_offset, now)
        if self.vp8:
            base = len(template) - header.payload_end + header.payload_offset
            ids = self.picture_ids(template, base)
            if ids is not None:
                picture_at, picture_id, mask, tl0_at, tl0 = ids
                if picture_at:
                    newest = self.picture_id
                    if mask == 0x7F and newest >= 0:
                        # 7 bits: extended to 15 (nearest the newest), the one width the
                        # down tracks count in; its low 7 bits are what is written.
                        ahead = (picture_id - newest) & 0x7F
                        ahead -= 0x80 if ahead >= 0x40 else 0
                        ids = (picture_at, (newest + ahead) & 0x7FFF, mask, tl0_at, tl0)
                        picture_id = ids[1]
                    if newest < 0 or 0 < (picture_id - newest) & 0x7FFF < 0x4000:
                        self.picture_id = picture_id
                if tl0_at and (self.tl0picidx < 0 or 0 < (tl0 - self.tl0picidx) & 0xFF < 0x80):
                    self.tl0picidx = tl0
                header.vp8_ids = ids
        return template

    def _keyframe(self, sequence_number: int, payload: memoryview, now: float) -> None:
        log.debug(
            "keyframe %s/%s, %d waiting", self.track.participant_id, self.rid, len(self.pending)
        )
        self.keyframe_seq = sequence_number
        self.keyframe_time = now
        self.keyframe_wanted = None
        size = vp8_picture_size(payload) if self.track.codec == "vp8" else None
        if size:
            self.width, self.height = size
        if self.pending:
            # Receivers still connecting wait (see `catch_up`): packets sent now would be
            # lost to them.
            ready = [down for down in self.pending if down.ready]
            self.pending = [down for down in self.pending if not down.ready]
            for down in ready:
                down.start(self, now)

    # -- what down tracks ask (seam.Feed) --------------------------------------------------

    def add_down(self, down: Sink) -> None:
        if down not in self.downs:
            self.downs.append(down)

    def remove_down(self, down: Sink) -> None:
        if down in self.downs:
            self.downs.remove(down)

    def wait_keyframe(self, down: Sink) -> None:
        if down not in self.pending:
            self.pending.append(down)

    def cancel_wait(self, down: Sink) -> None:
        if down in self.pending:
            self.pending.remove(down)

    def catch_up(self, down: Sink, now: float) -> bool:
        """Start a just-connected receiver at the keyframe we have if it is fresh: the
        packets from it on are resent from the cache. Only a fraction of a second old, so the
        viewer does not lag behind by more than that. False if there is none to use."""
        if self.keyframe_seq < 0 or now - self.keyframe_time > CATCH_UP_S:
            return False
        newest = self.stats.max_seq
        if self.cache.get(self.keyframe_seq) is None:
            return False
        self.cancel_wait(down)
        log.debug("catching up %s/%s", self.track.participant_id, self.rid)
        down.start(self, now)
        seq = self.keyframe_seq
        for _ in range(self.cache.capacity):
            data = self.cache.get(seq)
            header = self.track.parse(data) if data is not None else None
            if header is not None and header.payload_end > header.payload_offset:
                down.write(self.template(data, header, now), header, now)  # type: ignore[arg-type]
            if seq == newest:
                break
            seq = (seq + 1) & 0xFFFF
        return True

    def resend(self, sequence_number: int, now: float) -> tuple[bytearray, RtpHeader] | None:
        """A receiver's NACK, answered from this stream's cache (see `seam.Feed.resend`)."""
        data = self.cache.get(sequence_number)
        header = self.track.parse(data) if data is not None else None
        if header is None:
            return None
        return self.template(data, header, now), header  # type: ignore[arg-type]

    def request_keyframe(self, now: float) -> None:
        """Ask the publisher for a keyframe on this stream (see `UpTrack.request_keyframe`),
        and again until one comes (see `waiting`)."""
        if self.keyframe_wanted is None:
            self.keyframe_wanted = now
        self.track.request_keyframe(self.ssrc, now)

    # -- keyframe and layer state ------------------------------------------------------------

    def waiting(self, now: float) -> bool:
        """Whether a keyframe of this stream is still owed: asked for less than
        `KEYFRAME_WANTED_S` ago, or awaited by receivers that are connected (or connecting
        right now). One whose connection never comes up stops counting."""
        wanted = self.keyframe_wanted
        if wanted is not None:
            if now - wanted < KEYFRAME_WANTED_S:
                return True
            self.keyframe_wanted = None  # the publisher may have stopped this layer
        return any(down.awaits_media(now) for down in self.pending)

    def layer(self, now: float) -> Layer:
        return Layer(self.rid or "", self.width, self.height, self.meter.rate(now))

    def live(self, now: float) -> bool:
        return now - self.last_packet < STREAM_STALE_AFTER

    def flowing(self, now: float) -> bool:
        """Packets arrive, and have for `LAYER_BACK_AFTER` since the last gap."""
        return (
            now - self.last_packet < LAYER_GONE_AFTER and now - self.resumed_at >= LAYER_BACK_AFTER
        )

    def close(self) -> None:
        """The source is gone: every down track it fed, or was to feed, lets go of it."""
        for down in [*self.downs, *self.pending]:
            down.detach()
        self.downs.clear()
        self.pending.clear()


class UpTrack:
    """One published source of one participant."""

    def __init__(
        self,
        participant_id: str,
        source: Source,
        section: PublishedSection,
        uplink: Uplink,
        ids: ExtensionIds | None = None,
    ) -> None:
        self.participant_id = participant_id
        self.source = source
        self.kind = section.kind
        self.mid = section.mid
        self.codec = section.codec
        self.payload_type = section.payload_type
        self.rtx_payload_type = section.rtx_payload_type
        self.clock_rate = section.clock_rate
        self.rids = section.rids
        self.uplink = uplink
        # How the uplink numbers the extensions a template needs (audio level): cached
        # packets are read again with them for resends.
        self.ids = ids or ExtensionIds()
        # Set by the router that shows this track (`Router.add_track`).
        self.on_audio_level: AudioLevelListener = _no_audio_level
        self.streams: list[UpStream] = []
        self.forwarding = True  # off while the source is muted or not allowed
        self.last_keyframe_request = -1e9
        self.keyframe_owed: int | None = None  # the SSRC of a request not yet sent
        # The publisher's held uplink limit (set by its connection; see `layers`).
        self.limit: UplinkLimit | None = None

    def parse(self, data: bytes) -> RtpHeader | None:
        """A cached packet's header, for a resend."""
        try:
            return parse_rtp(data, self.ids)
        except MalformedPacket:
            return None

    def request_keyframe(self, ssrc: int, now: float) -> None:
        """Ask the publisher for a keyframe, at most every 350 ms for the whole track.

        Chromium answers a request on any layer with keyframes on every layer, and ignores
        requests that come within 300 ms of the one before, whatever the layer. A request
        that comes too soon is owed, and sent when the interval is over (see `tick`)."""
        if now - self.last_keyframe_request >= KEYFRAME_REQUEST_INTERVAL:
            self.last_keyframe_request = now
            self.keyframe_owed = None
            log.debug("keyframe request %s/%s", self.participant_id, self.source)
            self.uplink.request_keyframe(ssrc)
        else:
            self.keyframe_owed = ssrc

    def tick(self, now: float) -> None:
        """Send an owed keyframe request, and ask again while receivers still wait for a
        keyframe (a request or a keyframe may be lost, or ignored by the publisher); judge
        each layer's health (see `simulcast.LayerHealth`)."""
        if len(self.streams) > 1:
            for stream in self.streams:
                # A keyframe overdue counts against a layer only once it has sent one and
                # while it flows: a starting camera, or a stopped layer, is not broken.
                wanted = stream.keyframe_wanted
                if stream.keyframe_seq < 0 or now - stream.last_packet >= LAYER_GONE_AFTER:
                    wanted = None
                stats = stream.stats
                if stream.health.update(stats.expected, stats.received, wanted, now):
                    log.info(
                        "layer %s/%s %s (loss %.0f%%)",
                        self.participant_id,
                        stream.rid,
                        "broken" if stream.health.broken else "clean again",
                        stream.health.loss * 100,
                    )
        if now - self.last_keyframe_request < KEYFRAME_REQUEST_INTERVAL:
            return
        if self.keyframe_owed is not None:
            self.request_keyframe(self.keyframe_owed, now)
            return
        if now - self.last_keyframe_request > KEYFRAME_RETRY_S:
            for stream in self.streams:
                if stream.waiting(now):
                    self.request_keyframe(stream.ssrc, now)
                    return

    def stream(self, ssrc: int, rid: str | None) -> UpStream:
        stream = UpStream(self, ssrc, rid)
        self.streams.append(stream)
        self.streams.sort(key=lambda s: RID_ORDER.get(s.rid or "", 1))
        return stream

    def layers(self, now: float) -> list[tuple[UpStream, Layer]]:
        """Live streams, smallest first, with sizes guessed until a keyframe tells them.

        A layer silent for `LAYER_GONE_AFTER` (or back for less than `LAYER_BACK_AFTER`), or
        one that arrives broken, is left out as soon as another one flows (its publisher
        stopped sending it, or its uplink cannot carry it); when none flows (a camera that
        stalls or just started, a still screen) the ones heard within `STREAM_STALE_AFTER`
        still count."""
        live = [s for s in self.streams if s.flowing(now)] or [
            s for s in self.streams if s.live(now)
        ]
        limit = self.limit
        lowest = self.streams[0] if self.streams else None
        if limit is not None and limit.settling(now) and lowest is not None and lowest.live(now):
            # The publisher's uplink overflowed and its browser was just told to send less
            # (see `uplink_limit`): it restarts its lowest layer first, with a keyframe, even
            # when that layer is the one silent for a moment, so its viewers wait for that.
            live = [lowest]
        elif limit is not None and limit.holding and len(live) > 1:
            # The publisher's uplink overflowed and its browser was told to send less (see
            # `uplink_limit`): the layers above the limit are about to stop, and their
            # viewers move now rather than freeze through the browser's reaction. The loss
            # every layer showed was that overflow, so the limit, not the loss, says which
            # layers stay (if loss goes on, the limit falls further). Only layers that flow
            # count, the lowest always: a layer the browser stopped measures less and less
            # and "fits" again, and a viewer sent back to it after the settling froze there.
            kept, total = [], 0.0
            for stream in [s for s in live if s is lowest or s.flowing(now)]:
                total += stream.meter.rate(now)
                if kept and not limit.layer_fits(total):
                    break
                kept.append(stream)
            live = kept
        elif any(s.health.broken for s in live):
            # A layer that arrives broken (see `simulcast.LayerHealth`) is left out when one
            # below it arrives clean: its viewers move to that, as from a layer gone.
            clean_below = False
            kept = []
            for stream in live:
                if not stream.health.broken:
                    clean_below = True
                elif clean_below:
                    continue
                kept.append(stream)
            live = kept
        result = []
        for index, stream in enumerate(live):
            layer = stream.layer(now)
            if not layer.width:
                scale = 2 ** (len(live) - 1 - index)
                layer.width, layer.height = 1280 // scale, 720 // scale
            result.append((stream, layer))
        return result

    def close(self) -> None:
        for stream in self.streams:
            stream.close()
        self.streams.clear()
        self.on_audio_level = _no_audio_level
