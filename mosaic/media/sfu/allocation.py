"""What fills a subscriber's slots, and which stream feeds each one.

Videos: the ones the subscriber says it shows (before it says anything, the first few cameras
and any screen). Audio: every unmuted speaker up to a cap, above it the most active ones, with
hysteresis. Streams: each video slot gets the simulcast layer that fits its tile, biggest tiles
first, within the subscriber's bandwidth.
"""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.simulcast import choose_layer
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpTrack

AUDIO_CAP = 6
AUDIO_SWAP_MARGIN = 0.2
DEFAULT_VIEW_SIZE = (320, 180)
DEFAULT_VIEW_COUNT = 9
MAX_VIDEO_SLOTS = 52

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


def select_streams(peer: SubscribePeer, down_since: dict[str, float], now: float) -> None:
    """Point each slot at a stream: its track's (only) audio stream, or the video layer that
    fits the tile, sharing the subscriber's bandwidth biggest tile first. ``down_since``
    remembers, per slot, when bandwidth last pushed it down (to hold off moving up)."""
    for down in peer.slots_of("audio"):
        if down.track is not None and down.track.streams:
            down.want(down.track.streams[0], now)
    budget = peer.bandwidth
    videos = [down for down in peer.slots_of("video") if down.track is not None]
    videos.sort(key=lambda d: d.want_width * d.want_height, reverse=True)
    for down in videos:
        assert down.track is not None
        layers = down.track.layers(now)
        if not layers:
            continue
        current = down.target or down.source
        rid = choose_layer(
            [layer for _, layer in layers],
            down.want_width,
            down.want_height,
            max(budget, 0.0),
            current=current.rid if current else None,
            since_down=now - down_since.get(down.mid, -1e9),
        )
        stream = next(s for s, layer in layers if layer.rid == rid)
        if current is not None and current in down.track.streams:
            order = down.track.streams
            if order.index(stream) < order.index(current):
                down_since[down.mid] = now
        budget -= stream.meter.rate(now)
        down.want(stream, now)
