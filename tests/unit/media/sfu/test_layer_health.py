"""A simulcast layer that arrives broken (its publisher's uplink loses much of it while the
layers below flow cleanly) is left for the best clean layer below within a second, and taken
again only once it has been clean for a while; random loss spread over every layer moves
nobody. Packets go through `UpStream.receive`, the track is ticked every 50 ms and the
viewer allocated every 250 ms, as the router does."""

from __future__ import annotations

import itertools
import random

from mosaic.media.sfu.allocation import SlotState, ensure_slots, fill, select_streams
from mosaic.media.sfu.simulcast import CLEAN_AFTER_S, LayerHealth
from mosaic.media.wire.rtp import ExtensionIds, build_rtp, parse_rtp
from tests.helpers.allocation import NOW, camera, chosen, subscriber

# Packets per 50 ms tick, per layer (about 100, 370 and 750 kbit/s of 1,200-byte packets).
PER_TICK = {"q": 1, "h": 2, "f": 4}
PAYLOAD = bytes([0x10, 0x01]) + bytes(1180)  # a VP8 inter frame


class Watch:
    """One viewer of a 1280x720 tile on one three-layer camera, on a good downlink."""

    def __init__(self, seed: int = 1) -> None:
        self.peer = subscriber()
        self.track = camera()
        self.states: dict[str, SlotState] = {}
        self.now = NOW
        self.loss = {"q": 0.0, "h": 0.0, "f": 0.0}
        self.random = random.Random(seed)
        self.sequence = {stream.rid: 2 for stream in self.track.streams}
        ensure_slots(self.peer, "video", 1)
        fill(self.peer.slots_of("video"), [self.track])
        [down] = self.peer.slots_of("video")
        down.want_width, down.want_height = 1280, 720
        self.run(2.0)
        assert self.layer == "f"

    def run(self, seconds: float) -> list[tuple[float, str]]:
        """Send, tick and allocate for ``seconds``; (time, layer) after each allocation."""
        layers = []
        for tick in range(round(seconds / 0.05)):
            self.now += 0.05
            for stream in self.track.streams:
                rid = stream.rid or ""
                for _ in range(PER_TICK[rid]):
                    sequence = self.sequence[rid]
                    self.sequence[rid] = (sequence + 1) & 0xFFFF
                    if self.random.random() < self.loss[rid]:
                        continue
                    data = build_rtp(
                        payload_type=96,
                        sequence_number=sequence,
                        timestamp=sequence * 3000,
                        ssrc=stream.ssrc,
                        payload=PAYLOAD,
                    )
                    stream.receive(data, parse_rtp(data, ExtensionIds()), self.now)
            self.track.tick(self.now)
            if tick % 5 == 4:
                select_streams(self.peer, self.states, self.now, budget_bps=20_000_000)
                layers.append((self.now, self.layer))
        return layers

    @property
    def layer(self) -> str:
        return chosen(self.peer)["ann"]


def first(layers: list[tuple[float, str]], rid: str) -> float:
    return next(when for when, layer in layers if layer == rid)


def test_a_layer_losing_30_percent_is_left_for_the_clean_one_below_within_a_second() -> None:
    watch = Watch()
    start = watch.now
    watch.loss["f"] = 0.3  # the top layer squeezed; the half and quarter ones arrive whole
    layers = watch.run(3.0)
    assert first(layers, "h") - start <= 1.0, layers
    assert {layer for _, layer in layers[-8:]} == {"h"}  # and it stays there while broken
    # A keyframe is asked of the layer it moved to.
    [down] = watch.peer.slots_of("video")
    assert down.target is not None or down.source is watch.track.streams[1]


def test_the_viewer_goes_back_once_the_layer_has_been_clean_for_a_while() -> None:
    watch = Watch()
    watch.loss["f"] = 0.3
    watch.run(3.0)
    assert watch.layer == "h"
    healed = watch.now
    watch.loss["f"] = 0.0
    layers = watch.run(CLEAN_AFTER_S + 3.0)
    back = first(layers, "f") - healed
    assert CLEAN_AFTER_S <= back <= CLEAN_AFTER_S + 2.0, layers


def test_intermittent_loss_does_not_make_the_viewer_flap() -> None:
    watch = Watch()
    history = []
    for _ in range(6):  # 1.5 s of heavy loss, then 4.5 s clean, over and over
        watch.loss["f"] = 0.4
        history += watch.run(1.5)
        watch.loss["f"] = 0.0
        history += watch.run(CLEAN_AFTER_S + 1.5)
    moves = sum(1 for (_, a), (_, b) in itertools.pairwise(history) if a != b)
    assert moves <= 3, history  # down once (and perhaps back once, then down for good)


def test_five_percent_random_loss_on_every_layer_moves_nobody() -> None:
    for seed in range(3):
        watch = Watch(seed)
        watch.loss = {"q": 0.05, "h": 0.05, "f": 0.05}
        layers = watch.run(20.0)
        assert {layer for _, layer in layers} == {"f"}, (seed, layers)


def test_a_keyframe_that_cannot_come_through_breaks_the_layer() -> None:
    health = LayerHealth()
    for step in range(4):
        health.update(100 * step, 100 * step, None, step * 0.25)
    assert not health.broken
    health.update(400, 400, 0.0, 1.0)
    assert not health.broken  # asked for 1 s ago: still on its way
    health.update(500, 500, 0.0, 1.25)
    assert health.broken


def test_a_restarted_sequence_does_not_read_as_loss() -> None:
    health = LayerHealth()
    for step in range(8):
        health.update(100 * step, 100 * step, None, step * 0.25)
    for step in range(8):  # the counters start over (the sender restarted its numbering)
        health.update(10 * step, 10 * step, None, 2.0 + step * 0.25)
    assert not health.broken and health.loss == 0.0
