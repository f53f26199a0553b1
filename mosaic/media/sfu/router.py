"""One meeting's media: publishers' up tracks, subscribers' slots, and what goes where.

The router decides, per subscriber, which tracks fill its slots: every video it shows (as it
said with ``view``), audio from every unmuted speaker up to a cap and above it the loudest;
and for each video, the simulcast layer that fits its tile and its bandwidth. It never decides
who may do what: it asks its gate, which the signaling layer answers from the domain's rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc import RTCIceServer

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import (
    DEFAULT_VIEW_SIZE,
    MAX_VIDEO_SLOTS,
    PROBE_WHEN_FULL_AFTER_S,
    Allocation,
    SlotState,
    TickLayers,
    WantedVideo,
    budget_of,
    ensure_slots,
    fill,
    select_streams,
    wanted_audio,
    wanted_videos,
)
from mosaic.media.sfu.probe import Prober
from mosaic.media.sfu.publisher import PublishPeer
from mosaic.media.sfu.quality import GOOD, YES, Debounced, UplinkWatch, classify
from mosaic.media.sfu.scope import Scope, in_reach
from mosaic.media.sfu.seam import Transport, TransportFactory
from mosaic.media.sfu.speaker import SpeakerDetector
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpTrack
from mosaic.media.wire.sdp import SdpError
from mosaic.rtc.aiortc_bridge import MediaTransport, new_certificate
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)


def _negotiation_failed(error: BaseException) -> None:
    # A module function, not a method: the router's task set must not hold the router.
    log.error("media negotiation failed", exc_info=error)


TICK_S = 0.05
ALLOCATE_EVERY = 5  # ticks: layers and loudest speakers four times a second
REPORT_EVERY = 20  # ticks: RTCP reports once a second
# Speaking highlights switch on above one activity level and off below a lower one, so a
# speaker's breath does not make their tile blink.
SPEAKING_ON = 0.25
SPEAKING_OFF = 0.1


class MediaGate(Protocol):
    """The rules the media plane obeys, answered by the signaling layer from the domain."""

    def may_publish(self, participant_id: str, source: Source) -> bool: ...
    def may_forward(self, participant_id: str, source: Source) -> bool: ...


Send = Callable[[str, dict[str, Any]], None]
# A participant's connection as others see it: quality ("good", "fair", "poor") and whether
# its uplink cannot carry even its lowest layer.
ConditionListener = Callable[[str, str, bool], None]


def _no_condition(participant_id: str, quality: str, uplink_unstable: bool) -> None:
    """Until the signaling layer listens (see `Router.on_condition`)."""


# A track was added, removed or began or stopped forwarding (`Router.tracks` says which), and
# a viewer's view changed (None: it said nothing yet; []: it shows nothing, or left): what the
# relay mesh (`mesh.RelayMesh`) follows, by events, never by scanning every viewer's tiles.
TrackListener = Callable[[UpTrack], None]
ViewListener = Callable[[str, list[WantedVideo] | None], None]


def _no_track(track: UpTrack) -> None:
    """Until a mesh listens (see `Router.on_track`)."""


def _no_view(participant_id: str, videos: list[WantedVideo] | None) -> None:
    """Until a mesh listens (see `Router.on_view`)."""


@dataclass
class _Subscriber:
    peer: SubscribePeer
    view: list[WantedVideo] | None = None
    sent_slots: dict[str, Any] = field(default_factory=dict)
    # The budget's memory per video slot, the viewer's own cap (data saver), what the last
    # allocation paused, and the probes that test a higher rate before moving up.
    states: dict[str, SlotState] = field(default_factory=dict)
    cap_bps: float | None = None
    allocation: Allocation = field(default_factory=Allocation)
    prober: Prober = field(default_factory=Prober)


class Router:
    def __init__(
        self,
        gate: MediaGate,
        send: Send,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        transports: TransportFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticking: bool = True,
        scope: Scope | None = None,
    ) -> None:
        """``transports`` makes each connection's transport (by default the aiortc bridge's,
        all with one DTLS certificate); ``clock`` is monotonic seconds; without ``ticking``
        the caller calls `tick` itself. Unit tests give in-memory transports and a clock
        they move by hand, and tick when they choose."""
        self.gate = gate
        self._send = send
        # Whom each viewer may receive at all (breakout rooms; `mosaic.media.sfu.scope`).
        self.scope = scope
        self.ice_servers = ice_servers
        self._transports = transports
        self.clock = clock
        self._certificate: Any = None
        self.publishers: dict[str, PublishPeer] = {}
        self.subscribers: dict[str, _Subscriber] = {}
        self.tracks: dict[tuple[str, Source], UpTrack] = {}
        self.speakers = SpeakerDetector()
        self.dominant: str | None = None
        self.speaking: frozenset[str] = frozenset()
        self._ticker: asyncio.Task[None] | None = None
        self._ticking = ticking
        self._ticks = 0
        self._dirty = False
        self._closed = False
        self._tasks = TaskSet(on_error=_negotiation_failed)
        # What connections that are gone had counted (metrics add the live ones).
        self._closed_totals: dict[str, int] = dict.fromkeys(COUNTERS, 0)
        # Each participant's connection as last told (`on_condition`), and how it is judged.
        self.on_condition: ConditionListener = _no_condition
        self.on_track: TrackListener = _no_track
        self.on_view: ViewListener = _no_view
        self.conditions: dict[str, tuple[str, bool]] = {}
        self._quality: dict[str, Debounced] = {}
        self._uplinks: dict[str, UplinkWatch] = {}

    def _transport(self) -> Transport:
        # Not ``transports or self._media_transport``: a bound method kept on its own object
        # is a cycle, and a router should go with its meeting by reference counting alone.
        if self._transports is not None:
            return self._transports()
        if self._certificate is None:
            self._certificate = new_certificate()
        return MediaTransport(self._certificate, self.ice_servers)

    def _spawn(self, coroutine: Any) -> None:
        self._tasks.spawn(coroutine)

    def _start(self) -> None:
        if self._ticker is None and self._ticking and not self._closed:
            self._ticker = asyncio.create_task(self._run())

    # -- the signaling layer's calls -----------------------------------------------------------

    async def publish(self, participant_id: str, sdp: str, sources: dict[str, Source]) -> str:
        self._start()
        peer = self.publishers.get(participant_id)
        if peer is not None and peer.is_ice_restart(sdp):
            # ICE restarted (the network changed): aioice cannot restart a connection in
            # place, so the publisher gets a new one and its tracks are learned again.
            del self.publishers[participant_id]
            await peer.close()
            peer = None
        if peer is None:
            peer = PublishPeer(
                participant_id,
                self._transport(),
                may_publish=lambda source: self.gate.may_publish(participant_id, source),
                on_track=self.add_track,
                on_track_gone=self.remove_track,
                clock=self.clock,
            )
            self.publishers[participant_id] = peer
        return await peer.negotiate(sdp, sources)

    async def answer(self, participant_id: str, sdp: str) -> None:
        subscriber = self.subscribers.get(participant_id)
        if subscriber is None:
            raise SdpError("no offer was made to this participant")
        if await subscriber.peer.answer(sdp):
            await subscriber.peer.negotiate()

    async def ice_candidate(
        self, participant_id: str, pc: str, candidate: str | None, mid: str | None
    ) -> None:
        peer: PublishPeer | SubscribePeer | None
        if pc == "publish":
            peer = self.publishers.get(participant_id)
        else:
            found = self.subscribers.get(participant_id)
            peer = found.peer if found else None
        if peer is not None:
            try:
                await peer.add_remote_candidate(candidate)
            except ValueError as exc:
                raise SdpError("malformed ICE candidate") from exc

    def view(
        self, participant_id: str, videos: list[WantedVideo], max_kbps: int | None = None
    ) -> None:
        """What the participant shows, and the cap it sets on its own budget (data saver;
        None: only its link limits it)."""
        subscriber = self.subscribers.get(participant_id)
        if subscriber is not None:
            subscriber.view = videos[:MAX_VIDEO_SLOTS]
            subscriber.cap_bps = max_kbps * 1000.0 if max_kbps is not None else None
            self._allocate(subscriber, self.clock())
            self.on_view(participant_id, subscriber.view)

    def admit(self, participant_id: str) -> None:
        """An admitted participant receives media from now on."""
        self._start()
        if participant_id in self.subscribers:
            return

        async def send_offer(sdp: str) -> None:
            subscriber = self.subscribers.get(participant_id)
            slots = subscriber.sent_slots if subscriber else {}
            self._send(participant_id, {"type": "offer", "sdp": sdp, "slots": slots})

        peer = SubscribePeer(participant_id, self._transport(), send_offer, clock=self.clock)
        subscriber = _Subscriber(peer)
        self.subscribers[participant_id] = subscriber
        self._allocate(subscriber, self.clock())
        # A newcomer learns who is speaking now, not only at the next change.
        self._tell_speakers(participant_id, dominant=True)
        self.on_view(participant_id, None)

    def resumed(self, participant_id: str) -> None:
        """The participant's signaling came back: an offer sent meanwhile may be lost."""
        subscriber = self.subscribers.get(participant_id)
        if subscriber is not None and subscriber.peer.awaiting_answer:
            subscriber.peer.awaiting_answer = False
            self._spawn(subscriber.peer.negotiate())

    async def restart(self, participant_id: str, pc: str) -> None:
        """A new subscribe connection for a participant whose old one failed."""
        subscriber = self.subscribers.pop(participant_id, None)
        if subscriber is not None:
            await subscriber.peer.close()
        self.admit(participant_id)
        renewed = self.subscribers.get(participant_id)
        if renewed is not None and subscriber is not None:
            renewed.view = subscriber.view
            renewed.cap_bps = subscriber.cap_bps
            self._allocate(renewed, self.clock())
            self.on_view(participant_id, renewed.view)

    def sources_changed(self, participant: Any) -> None:
        """Someone turned a source on or off, or the rules changed: re-check forwarding."""
        changed = False
        for (pid, source), track in self.tracks.items():
            if pid == participant.id:
                forwarding = self.gate.may_forward(pid, source)
                if forwarding != track.forwarding:
                    track.forwarding = forwarding
                    changed = True
                    if not forwarding and track.kind == "audio":
                        self.speakers.remove(pid)
                    self.on_track(track)
        if changed:
            self._allocate_all()

    def scope_changed(self) -> None:
        """Who may receive whom changed (someone moved between breakout rooms): allocate
        again now, not at the next tick, on the same connections; each video slot that gets
        a new publisher asks it for a keyframe (`DownTrack.want`)."""
        self._allocate_all()

    def stats(self) -> dict[str, int]:
        """Totals for metrics: streams now, and packets, bytes, repairs and keyframe
        requests since the meeting began (cheap: read from the peers at scrape time)."""
        totals = dict(self._closed_totals)
        for publisher in self.publishers.values():
            _add(totals, _publisher_counts(publisher))
        for subscriber in self.subscribers.values():
            _add(totals, _subscriber_counts(subscriber.peer))
        totals["published_streams"] = sum(len(t.streams) for t in self.tracks.values())
        totals["forwarded_streams"] = sum(
            1
            for subscriber in self.subscribers.values()
            for down in subscriber.peer.slots
            if down.source is not None
        )
        return totals

    async def remove(self, participant_id: str) -> None:
        publisher = self.publishers.pop(participant_id, None)
        subscriber = self.subscribers.pop(participant_id, None)
        if publisher is not None:
            _add(self._closed_totals, _publisher_counts(publisher))
        if subscriber is not None:
            _add(self._closed_totals, _subscriber_counts(subscriber.peer))
        self.speakers.remove(participant_id)
        self.conditions.pop(participant_id, None)
        self._quality.pop(participant_id, None)
        self._uplinks.pop(participant_id, None)
        if subscriber is not None:
            self.on_view(participant_id, [])
        if publisher is not None:
            await publisher.close()
        if subscriber is not None:
            await subscriber.peer.close()
        self._allocate_all()

    async def close(self) -> None:
        self._closed = True
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self._tasks.cancel()
        for pid in list(self.publishers) + list(self.subscribers):
            await self.remove(pid)

    # -- tracks --------------------------------------------------------------------------------

    def add_track(self, track: UpTrack) -> None:
        """An up track to show, from a publish connection here or from a relay: the router
        neither knows nor cares which. It replaces the same participant's track of the same
        source; the next allocation gives it to subscribers."""
        key = (track.participant_id, track.source)
        old = self.tracks.get(key)
        if old is not None and old is not track:
            old.close()
        track.forwarding = self.gate.may_forward(track.participant_id, track.source)
        track.on_audio_level = self._audio_level
        self.tracks[key] = track
        self._dirty = True
        self.on_track(track)

    def remove_track(self, track: UpTrack) -> None:
        """The track's origin is gone: no slot shows it after the next allocation (its owner
        closes it, which stops every down track it fed at once)."""
        key = (track.participant_id, track.source)
        if self.tracks.get(key) is track:
            del self.tracks[key]
            self.on_track(track)
        self._dirty = True

    def _audio_level(self, track: UpTrack, level: int, now: float) -> None:
        if track.forwarding and track.source is Source.MICROPHONE:
            self.speakers.level(track.participant_id, level, now)

    # -- allocation ------------------------------------------------------------------------------

    def _allocate_all(self) -> None:
        now = self.clock()
        levels = self.speakers.levels(now)  # once per tick: the same for every subscriber
        layers: TickLayers = {}  # each track's, found once per tick likewise
        for subscriber in list(self.subscribers.values()):
            self._allocate(subscriber, now, levels, layers)

    def _allocate(
        self,
        subscriber: _Subscriber,
        now: float,
        levels: dict[str, float] | None = None,
        layers: TickLayers | None = None,
    ) -> None:
        """Decide what fills this subscriber's slots; offer again if slots were added, else
        tell it the new assignment; then point each slot at a stream."""
        peer = subscriber.peer
        me = peer.participant_id
        holders = {down.track for down in peer.slots_of("audio") if down.track}
        if levels is None:
            levels = self.speakers.levels(now)
        tracks = in_reach(self.tracks, self.scope(me) if self.scope is not None else None)
        audio = wanted_audio(tracks, me, holders, levels)
        videos = wanted_videos(tracks, me, subscriber.view)
        added = ensure_slots(peer, "audio", len(audio))
        added |= ensure_slots(peer, "video", len(videos))
        fill(peer.slots_of("audio"), audio)
        fill(peer.slots_of("video"), [track for track, _, _ in videos])
        sizes = {id(track): (width, height) for track, width, height in videos}
        for down in peer.slots_of("video"):
            if down.track is not None:
                down.want_width, down.want_height = sizes.get(id(down.track), DEFAULT_VIEW_SIZE)
        slots = {
            down.mid: (
                {"participant": down.track.participant_id, "source": down.track.source.value}
                if down.track
                else None
            )
            for down in peer.slots
        }
        if added:
            subscriber.sent_slots = slots
            self._spawn(peer.negotiate())
        elif slots != subscriber.sent_slots:
            subscriber.sent_slots = slots
            self._send(me, {"type": "slots", "slots": slots})
        result = select_streams(
            peer,
            subscriber.states,
            now,
            budget_bps=budget_of(peer, subscriber.cap_bps),
            dominant=self.dominant,
            probe_when_full=now - peer.estimator.last_decrease >= PROBE_WHEN_FULL_AFTER_S,
            layers=layers,
        )
        before, subscriber.allocation = subscriber.allocation.paused, result
        if result.paused - before:
            subscriber.prober.paused(now)
        if peer.transport_cc and peer.estimator.last_decrease > -float("inf"):
            # Repairs get what the layers leave of the budget, and some share of it anyway
            # (a receiver with transport-wide feedback: one with only REMB and loss reports
            # is judged by the loss it reports, which unrepaired packets would only deepen).
            peer.repair_bps = max(result.budget_bps - result.spent_bps, 0.1 * result.budget_bps)
        for pid, source in sorted(before ^ result.paused):
            self._send(
                me,
                {
                    "type": "video_paused",
                    "participant_id": pid,
                    "source": source.value,
                    "paused": (pid, source) in result.paused,
                    "reason": "bandwidth",
                },
            )
        # No probing past the viewer's own cap: data saver means data saved.
        capped = subscriber.cap_bps is not None and result.budget_bps >= subscriber.cap_bps
        shortfall = 0.0 if capped else result.shortfall_bps
        subscriber.prober.consider(
            shortfall,
            result.budget_bps,
            now,
            remb_only=not peer.transport_cc,
            goal_bps=result.goal_bps,
            sent_bps=result.spent_bps,
        )

    def _conditions(self, now: float) -> None:
        """Judge every participant's connection again (on the allocation ticks) and tell the
        signaling layer when what others see of it changes."""
        tracks: dict[str, list[UpTrack]] = {}
        for (pid, _), track in self.tracks.items():
            tracks.setdefault(pid, []).append(track)
        for pid in {*self.subscribers, *self.publishers}:
            watch = self._uplinks.setdefault(pid, UplinkWatch())
            watch.update(tracks.get(pid, []), now)
            unstable = watch.unstable.value == YES
            subscriber = self.subscribers.get(pid)
            loss, rtt, paused, limited = 0.0, None, False, False
            if subscriber is not None:
                loss = getattr(subscriber.peer, "fraction_lost", 0.0)
                rtt = getattr(subscriber.peer, "rtt_s", None)
                paused = bool(subscriber.allocation.paused)
                limited = subscriber.allocation.limited
            observed = classify(
                loss=loss,
                rtt_s=rtt,
                paused=paused,
                limited=limited,
                uplink_loss=watch.loss,
                uplink_unstable=unstable,
            )
            quality = self._quality.setdefault(pid, Debounced(GOOD))
            quality.update(observed, now)
            condition = (quality.value, unstable)
            if self.conditions.get(pid, (GOOD, False)) != condition:
                self.conditions[pid] = condition
                self.on_condition(pid, *condition)

    # -- the clock -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.tick()
            except Exception:
                log.exception("media router tick failed")

    def tick(self) -> None:
        """One beat (every `TICK_S`): NACK and keyframe retries, probe packets, allocation
        and connection quality four times a second, RTCP reports once a second."""
        self._ticks += 1
        self._tick(self._ticks, self.clock())

    def _tick(self, ticks: int, now: float) -> None:
        # A method of its own so that its loop variables go with it: left in the endless
        # loop's frame, the last peer iterated stayed referenced after it departed.
        for publisher in list(self.publishers.values()):
            publisher.tick(now)
        for subscriber in list(self.subscribers.values()):
            subscriber.prober.tick(subscriber.peer, now)
        if self._dirty or ticks % ALLOCATE_EVERY == 0:
            self._dirty = False
            self._speakers(now)
            self._allocate_all()
            self._conditions(now)
        if ticks % REPORT_EVERY == 0:
            for publisher in list(self.publishers.values()):
                publisher.send_reports(now)
            for subscriber in list(self.subscribers.values()):
                subscriber.peer.send_reports(now)
            if log.isEnabledFor(logging.DEBUG):
                self._log_repairs()

    def _log_repairs(self) -> None:
        for pid, publisher in self.publishers.items():
            log.debug(
                "publisher %s: %d NACKed upstream, %d repaired, %d malformed",
                pid, publisher.nacks_sent, publisher.repaired, publisher.malformed,
            )  # fmt: skip
        for pid, subscriber in self.subscribers.items():
            peer = subscriber.peer
            log.debug(
                "subscriber %s: %d NACKs, %d resent, %d not in cache, %d keyframe requests",
                pid, peer.nacks, peer.retransmissions, peer.unrepairable, peer.keyframe_requests,
            )  # fmt: skip

    def _speakers(self, now: float) -> None:
        changed = self.speakers.tick(now)
        if changed is not None and changed != self.dominant:
            self.dominant = changed
            for pid in self.subscribers:
                self._tell_speakers(pid, dominant=True, speaking=False)
        levels = self.speakers.levels(now)
        speaking = frozenset(
            pid
            for pid, level in levels.items()
            if level >= SPEAKING_ON or (pid in self.speaking and level >= SPEAKING_OFF)
        )
        if speaking != self.speaking:
            self.speaking = speaking
            for pid in self.subscribers:
                self._tell_speakers(pid, dominant=False)

    def _tell_speakers(self, pid: str, *, dominant: bool, speaking: bool = True) -> None:
        """Who speaks, as far as ``pid`` may hear: in breakout rooms, a voice in another room
        is neither heard nor named (its id would say who talks where)."""
        reach = self.scope(pid) if self.scope is not None else None
        if dominant and self.dominant is not None and (reach is None or reach(self.dominant)):
            self._send(pid, {"type": "speaker", "participant": self.dominant})
        if speaking:
            heard = sorted(p for p in self.speaking if reach is None or reach(p))
            if heard or not dominant:
                self._send(pid, {"type": "speaking", "participants": heard})


COUNTERS = (
    "packets_forwarded",
    "bytes_forwarded",
    "nacks_received",
    "retransmissions",
    "keyframe_requests",
    "upstream_nacks",
)


def _publisher_counts(publisher: PublishPeer) -> dict[str, int]:
    return {
        "keyframe_requests": publisher.keyframe_requests,
        "upstream_nacks": publisher.nacks_sent,
    }


def _subscriber_counts(peer: SubscribePeer) -> dict[str, int]:
    return {
        "packets_forwarded": sum(down.packets_sent for down in peer.slots),
        "bytes_forwarded": sum(down.octets_sent for down in peer.slots),
        "nacks_received": peer.nacks,
        "retransmissions": peer.retransmissions,
    }


def _add(totals: dict[str, int], counts: dict[str, int]) -> None:
    for name, value in counts.items():
        totals[name] = totals.get(name, 0) + value
