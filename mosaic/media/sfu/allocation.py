"""What fills a subscriber's slots, and which stream feeds each one.

Videos: the ones the subscriber says it shows (before it says anything, the first few cameras
and any screen). Audio: every unmuted speaker up to a cap, above it the most active ones, with
hysteresis. Streams: one budget per viewer (its downlink estimate, capped by its data saver)
shared by all its tracks: audio first, then a screen share, the active speaker, then tiles by
size. Each video gets the simulcast layer that fits its tile if the budget allows, else a lower
one, else it is paused (nothing forwarded: a frozen tile is worse than an avatar). Moving up
needs headroom that has lasted (`FIT_HOLD_S`) and calm since bandwidth last pushed the video
down (`simulcast.UP_HOLD_S`), so that an estimate wobbling around a layer's rate does not make
the picture flap between layers, each switch costing a keyframe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.estimator import MAX_BPS
from mosaic.media.sfu.simulcast import BANDWIDTH_USE, UP_HEADROOM, UP_HOLD_S, Layer, sized_for
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpStream, UpTrack

AUDIO_CAP = 6
AUDIO_SWAP_MARGIN = 0.2
DEFAULT_VIEW_SIZE = (320, 180)
DEFAULT_VIEW_COUNT = 9
MAX_VIDEO_SLOTS = 52
# A step up (or a resume) needs its headroom to have lasted this long: one good estimate is
# not a trend.
FIT_HOLD_S = 1.0
# A layer that has just (re)started measures almost nothing over its first second; count it
# at no less than this many bit/s per pixel, lest it look affordable on any link.
MIN_BITS_PER_PIXEL = 0.75
# A viewer's own budget (data saver) is never set below this: audio must still fit.
MIN_CAP_BPS = 64_000
# A video on its lowest layer pauses only once that layer has not fitted for this long: an
# estimate dips while it finds a link's rate, and a pause costs a keyframe and a hold.
PAUSE_AFTER_S = 1.5
# Probing is for a viewer that uses less than this share of its budget (app-limited: its
# estimate cannot rise past what it is seen to get). One that uses it all is at its link's
# rate, where the estimator rises on its own if it can and a probe would only add loss.
PROBE_BELOW_USE = 0.8
# ... and for one that uses it all, once the link has been calm this long since it last pushed
# the estimate down: the estimator alone climbs 8 % a second, so a viewer whose link recovered
# would otherwise wait minutes for its tiles.
PROBE_WHEN_FULL_AFTER_S = 5.0
# Resuming a paused video needs this much room for its lowest layer (less than a step up
# between layers: the lowest is what keeps a picture at all).
RESUME_HEADROOM = 1.1

Tracks = dict[tuple[str, Source], UpTrack]
WantedVideo = tuple[str, Source, int, int]


def wanted_videos(
    tracks: Tracks, me: str, view: list[WantedVideo] | None
) -> list[tuple[UpTrack, int, int]]:
    if view is None:
        # Before the client says what it shows: the first few cameras, and any screen.
        candidates = [
            (track, *((1280, 720) if track.source is Source.SCREEN else DEFAULT_VIEW_SIZE))
            for (pid, _), track in tracks.items()
            if track.kind == "video" and pid != me and track.forwarding
        ]
        return candidates[:DEFAULT_VIEW_COUNT]
    wanted = []
    for pid, source, width, height in view:
        track = tracks.get((pid, source))
        if track is not None and track.forwarding and pid != me:
            wanted.append((track, width, height))
    return wanted


def wanted_audio(
    tracks: Tracks, me: str, holders: set[UpTrack], levels: dict[str, float]
) -> list[UpTrack]:
    """Every unmuted speaker up to the cap; above it the most active ones. A speaker keeps its
    slot until a newcomer is clearly more active (no flapping between two who talk in turn)."""
    candidates = [
        track
        for (pid, _), track in tracks.items()
        if track.kind == "audio" and pid != me and track.forwarding
    ]
    if len(candidates) <= AUDIO_CAP:
        return candidates

    def activity(track: UpTrack) -> float:
        return levels.get(track.participant_id, 0.0)

    chosen = sorted((t for t in candidates if t in holders), key=activity, reverse=True)
    others = sorted((t for t in candidates if t not in holders), key=activity, reverse=True)
    chosen = chosen[:AUDIO_CAP]
    while len(chosen) < AUDIO_CAP and others:
        chosen.append(others.pop(0))
    for challenger in others:
        weakest = min(chosen, key=activity)
        if activity(challenger) > activity(weakest) + AUDIO_SWAP_MARGIN:
            chosen[chosen.index(weakest)] = challenger
    return chosen


def ensure_slots(peer: SubscribePeer, kind: str, needed: int) -> bool:
    """Add slots until there are ``needed``; True if any were added (an offer is due)."""
    have = len(peer.slots_of(kind))
    for _ in range(needed - have):
        peer.add_slot(kind)
    return needed > have


def fill(slots: list[DownTrack], tracks: list[UpTrack]) -> None:
    """Give each track a slot, leaving tracks where they are when they already have one."""
    wanted = set(map(id, tracks))
    for down in slots:
        if down.track is not None and id(down.track) not in wanted:
            down.assign(None)
    placed = {id(down.track) for down in slots if down.track is not None}
    free = iter([down for down in slots if down.track is None])
    for track in tracks:
        if id(track) not in placed:
            down = next(free, None)
            if down is None:
                return
            down.assign(track)


@dataclass(slots=True)
class SlotState:
    """What the budget remembers about one video slot between allocations."""

    paused: bool = False
    last_down: float = -math.inf  # when bandwidth last pushed it down (or paused it)
    fits_since: float | None = None  # since when a step up has had its headroom
    limited: bool = False  # below the layer its tile wants, for want of bandwidth
    misfit_since: float | None = None  # since when even its lowest layer has not fitted


@dataclass(slots=True)
class Allocation:
    """One viewer's outcome: which videos are paused, whether any is held below what its
    tile wants, and how much more it would take to move up (what a probe should test)."""

    paused: set[tuple[str, Source]] = field(default_factory=set)
    limited: bool = False
    shortfall_bps: float = 0.0
    budget_bps: float = 0.0
    # What the viewer is sent now (audio and the chosen layers), and the total its next step
    # up needs the estimate to reach: a probe must make the receiver get that whole rate,
    # since the estimate rises to what was delivered, not by what was added.
    spent_bps: float = 0.0
    goal_bps: float = 0.0


def budget_of(peer: SubscribePeer, cap_bps: float | None = None) -> float:
    """The viewer's downlink estimate, capped by its data saver.

    Until the link has pushed back once (the estimate has never gone down), the estimate is
    only where its climb started, not a limit: a viewer on a good link gets every video it
    shows at once, as from Janus, instead of waiting for an estimate that an app-limited
    sender can only raise by probing (a gallery of 11 full layers starved at 1 Mbit/s for
    tens of seconds). The first congestion signal makes the estimate the budget."""
    if peer.estimator.last_decrease == -math.inf:
        budget = float(MAX_BPS)
    else:
        budget = float(peer.estimated_bps) + unmeasured_bps(peer, peer.clock())
    if cap_bps is not None:
        budget = min(budget, max(cap_bps, MIN_CAP_BPS))
    return budget


def unmeasured_bps(peer: SubscribePeer, now: float) -> float:
    """What the viewer is sent outside its transport-wide feedback: Firefox numbers only
    its video (it reports every numbered audio packet lost), so its estimate is a rate
    measured on the video alone, the link's capacity less the audio; the audio, which the
    budget spends first, goes back on top. Without it a Firefox viewer squeezed to
    200 kbit/s had its quarter layer priced against the link less the audio twice, and was
    paused instead of moved down."""
    if not peer.transport_cc:
        return 0.0
    return sum(
        down.track.streams[0].meter.rate(now)
        for down in peer.slots
        if not down.numbered and down.track is not None and down.track.streams
    )


def _priority(down: DownTrack, dominant: str | None) -> tuple[int, int]:
    assert down.track is not None
    if down.track.source is Source.SCREEN:
        rank = 0
    elif down.track.participant_id == dominant:
        rank = 1
    else:
        rank = 2
    return rank, -(down.want_width * down.want_height)


def _cost(layer: Layer) -> float:
    return max(layer.bitrate, layer.width * layer.height * MIN_BITS_PER_PIXEL)


def _smallest_first(pair: tuple[UpStream, Layer]) -> tuple[int, float]:
    return pair[1].width * pair[1].height, pair[1].bitrate


# Each track's live layers at one tick, smallest first, by `id` of the track (see
# `select_streams`'s ``layers``).
TickLayers = dict[int, list[tuple[UpStream, Layer]]]


def _layers_of(track: UpTrack, now: float, tick: TickLayers) -> list[tuple[UpStream, Layer]]:
    """The track's live layers, smallest first: found once per tick for every viewer (a
    gallery of 49 tiles seen by 49 people asked 2,401 times four times a second)."""
    found = tick.get(id(track))
    if found is None:
        found = tick[id(track)] = sorted(track.layers(now), key=_smallest_first)
    return found


def select_streams(
    peer: SubscribePeer,
    states: dict[str, SlotState],
    now: float,
    *,
    budget_bps: float | None = None,
    dominant: str | None = None,
    probe_when_full: bool = False,
    layers: TickLayers | None = None,
) -> Allocation:
    """Point each slot at a stream within the viewer's budget (``budget_bps``, by default
    `budget_of` the peer): every audio slot first, then videos in order (screen, the active
    speaker ``dominant``, bigger tiles first). ``states`` keeps each video slot's
    `SlotState` by mid. Runs on ticks (four times a second), never per packet.

    ``layers``: one dict for every viewer's allocation in a tick, which fills it; nothing in
    an allocation changes what a track's layers are, and no packet arrives within a tick."""
    result = Allocation()
    tick: TickLayers = {} if layers is None else layers
    budget = budget_of(peer) if budget_bps is None else budget_bps
    result.budget_bps = budget
    for down in peer.slots_of("audio"):
        if down.track is not None and down.track.streams:
            stream = down.track.streams[0]
            down.want(stream, now)
            budget -= stream.meter.rate(now)
    videos = [down for down in peer.slots_of("video") if down.track is not None]
    videos.sort(key=lambda down: _priority(down, dominant))
    live_mids = {down.mid for down in videos}
    for mid in [mid for mid in states if mid not in live_mids]:
        del states[mid]
    for down in videos:
        state = states.setdefault(down.mid, SlotState())
        spent = _select(down, state, budget, now, result, tick)
        budget -= spent
    result.spent_bps = result.budget_bps - budget
    if probe_when_full or budget > result.budget_bps * (1 - PROBE_BELOW_USE):
        return result
    result.shortfall_bps = 0.0
    return result


def _current(down: DownTrack, state: SlotState, streams: list[UpStream]) -> tuple[int, bool]:
    """The slot's layer among the flowing ``streams`` (-1: none, or paused), and whether the
    layer it was on stopped arriving: then the index is that of the best one below it, to
    which it moves at once."""
    held = down.target or down.source
    track = down.track
    if state.paused or not isinstance(held, UpStream) or track is None:
        return -1, False
    if held in streams:
        return streams.index(held), False
    if held not in track.streams:
        return -1, False
    below = track.streams.index(held)
    return sum(1 for stream in streams if track.streams.index(stream) < below) - 1, True


def _hold_up(state: SlotState, fit: int, current: int, now: float) -> int:
    """A first choice (or a move off a lost layer) takes what fits now; a step up after
    bandwidth trouble waits for calm and for lasting headroom."""
    fresh = current < 0 and not state.paused
    if fit <= current or fresh:
        state.fits_since = None
        return fit
    if state.fits_since is None:
        state.fits_since = now
    troubled = state.paused or state.last_down > -math.inf
    calm = now - state.last_down >= UP_HOLD_S and now - state.fits_since >= FIT_HOLD_S
    return current if troubled and not calm else fit


def _calm(state: SlotState, now: float) -> bool:
    """Whether a probe for this slot's step up is worth its cost: not while the link has
    just pushed it down (a probe then only adds to the congestion), but early enough that
    the estimate has risen by the time the hold is over."""
    return now - state.last_down >= UP_HOLD_S - FIT_HOLD_S


def _hold_pause(state: SlotState, fit: int, shown: bool, now: float) -> int:
    """A video shown now whose lowest layer no longer fits keeps it for `PAUSE_AFTER_S`
    before it is paused."""
    if fit >= 0:
        state.misfit_since = None
        return fit
    if state.paused or not shown:
        return fit
    if state.misfit_since is None:
        state.misfit_since = now
    return 0 if now - state.misfit_since < PAUSE_AFTER_S else fit


def _pause(down: DownTrack, state: SlotState, now: float) -> None:
    """Forward nothing for this video: even its lowest layer does not fit."""
    if not state.paused:
        state.last_down = now
    state.paused = True
    state.limited = True
    down.detach()


def _select(
    down: DownTrack,
    state: SlotState,
    budget: float,
    now: float,
    result: Allocation,
    layers: TickLayers,
) -> float:
    """Choose one video slot's layer (or pause it); returns the bit/s it will take."""
    track = down.track
    assert track is not None
    flowing = _layers_of(track, now, layers)
    key = (track.participant_id, track.source)
    if not flowing:
        # Nothing arrives from the publisher: nothing to choose (its uplink is the trouble).
        if state.paused:
            result.paused.add(key)
        return 0.0
    streams = [stream for stream, _ in flowing]
    costs = [_cost(layer) for _, layer in flowing]
    wanted = sized_for([layer for _, layer in flowing], down.want_width, down.want_height)
    current, lost = _current(down, state, streams)
    available = budget * BANDWIDTH_USE
    fit = -1
    for index in range(wanted + 1):
        headroom = RESUME_HEADROOM if index == 0 else UP_HEADROOM
        needed = costs[index] * (headroom if index > current else 1.0)
        # The lowest layer may use the whole budget, reserve included: the alternative is
        # a paused video, not a lower layer.
        if needed > (budget if index == 0 else available):
            break
        fit = index
    fit = _hold_up(state, fit, current, now)
    if lost and fit < 0 and current < 0:
        fit = 0 if costs[0] <= budget else -1
    fit = _hold_pause(state, fit, current >= 0 or lost, now)
    bandwidth_bound = fit < wanted
    if bandwidth_bound and fit < current:
        state.last_down = now
        state.fits_since = None
    if fit < 0:
        _pause(down, state, now)
        result.paused.add(key)
        result.limited = True
        if _calm(state, now):
            needed = costs[0] * RESUME_HEADROOM
            result.shortfall_bps = max(result.shortfall_bps, needed - budget)
            result.goal_bps = max(result.goal_bps, result.budget_bps - budget + needed)
        return 0.0
    state.paused = False
    state.limited = bandwidth_bound
    if bandwidth_bound:
        result.limited = True
        if _calm(state, now):
            step = costs[fit + 1] * UP_HEADROOM - (available - costs[fit])
            result.shortfall_bps = max(result.shortfall_bps, step)
            needed = costs[fit + 1] * UP_HEADROOM / BANDWIDTH_USE
            result.goal_bps = max(result.goal_bps, result.budget_bps - budget + needed)
    down.want(streams[fit], now)
    return costs[fit]
