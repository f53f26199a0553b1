"""Simulcast layer choice per viewer, with hysteresis, and per-layer bitrate measurement."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from mosaic.media.sfu.simulcast import (
    UP_HOLD_S,
    BitrateMeter,
    Layer,
    LayerSelector,
    choose_layer,
)

Q = Layer("q", 320, 180, 150_000)
H = Layer("h", 640, 360, 500_000)
F = Layer("f", 1280, 720, 1_800_000)
LAYERS = [Q, H, F]


def test_the_smallest_layer_that_fills_the_tile_is_chosen() -> None:
    assert choose_layer(LAYERS, 240, 135, None) == "q"
    assert choose_layer(LAYERS, 400, 225, None) == "q"  # 320 x 1.25 covers 400
    assert choose_layer(LAYERS, 401, 225, None) == "h"
    assert choose_layer(LAYERS, 640, 360, None) == "h"
    assert choose_layer(LAYERS, 1920, 1080, None) == "f"  # nothing covers it: the largest


def test_layers_may_come_in_any_order() -> None:
    assert choose_layer([F, Q, H], 600, 300, None) == "h"


def test_bandwidth_caps_the_choice_and_the_lowest_layer_is_always_allowed() -> None:
    assert choose_layer(LAYERS, 1280, 720, 3_000_000) == "f"
    assert choose_layer(LAYERS, 1280, 720, 1_000_000) == "h"  # f needs 1.8M / 0.9 x 1.2
    assert choose_layer(LAYERS, 1280, 720, 10_000) == "q"


def test_no_layers_no_choice() -> None:
    assert choose_layer([], 100, 100, None) is None
    assert LayerSelector().choose([], 100, 100, 1e6, 0.0) is None


def test_staying_needs_only_a_fit_while_moving_up_needs_headroom() -> None:
    budget_for_f = F.bitrate / 0.9  # f fits exactly
    assert choose_layer(LAYERS, 1280, 720, budget_for_f, current="f") == "f"
    assert choose_layer(LAYERS, 1280, 720, budget_for_f, current="h") == "h"
    assert choose_layer(LAYERS, 1280, 720, budget_for_f * 1.2, current="h") == "f"


def test_moving_up_waits_after_bandwidth_pushed_the_viewer_down() -> None:
    selector = LayerSelector()
    assert selector.choose(LAYERS, 1280, 720, 3_000_000, now=0.0) == "f"
    assert selector.choose(LAYERS, 1280, 720, 1_000_000, now=1.0) == "h"  # pushed down
    assert selector.choose(LAYERS, 1280, 720, 5_000_000, now=2.0) == "h"  # too soon
    assert selector.choose(LAYERS, 1280, 720, 5_000_000, now=1.0 + UP_HOLD_S) == "f"


def test_a_smaller_tile_moves_down_without_delaying_a_later_move_up() -> None:
    selector = LayerSelector()
    assert selector.choose(LAYERS, 1280, 720, 5_000_000, now=0.0) == "f"
    assert selector.choose(LAYERS, 320, 180, 5_000_000, now=1.0) == "q"
    assert selector.choose(LAYERS, 1280, 720, 5_000_000, now=1.5) == "f"


def test_a_layer_that_vanished_is_left_at_once() -> None:
    selector = LayerSelector()
    selector.choose(LAYERS, 1280, 720, None, now=0.0)
    assert selector.choose([Q, H], 1280, 720, None, now=0.1) == "h"


@settings(max_examples=100)
@given(st.lists(st.floats(-0.1, 0.1), min_size=10, max_size=60))
def test_bandwidth_jitter_around_a_threshold_does_not_flap(wobbles: list[float]) -> None:
    selector = LayerSelector()
    assert selector.choose(LAYERS, 1280, 720, 5_000_000, now=-1.0) == "f"
    threshold = F.bitrate / 0.9  # where f stops fitting
    choices = [
        selector.choose(LAYERS, 1280, 720, threshold * (1 + wobble), now=0.25 * tick)
        for tick, wobble in enumerate(wobbles)
    ]
    switches = sum(a != b for a, b in itertools.pairwise(choices))
    assert switches <= 1  # at most one step down, never back up within +-10%


# -- BitrateMeter ------------------------------------------------------------------------------


def test_a_steady_stream_is_measured_at_its_rate() -> None:
    meter = BitrateMeter(window=1.0)
    for i in range(500):  # 100 packets/s of 1250 bytes: 1 Mbit/s, for 5 s
        meter.add(1250, i * 0.01)
    assert abs(meter.rate(4.995) - 1_000_000) < 30_000


def test_the_rate_falls_to_zero_when_packets_stop() -> None:
    meter = BitrateMeter()
    for i in range(100):
        meter.add(1000, i * 0.01)
    assert meter.rate(1.5) < meter.rate(0.99)
    assert meter.rate(5.0) == 0
    assert BitrateMeter().rate(3.0) == 0


def test_the_first_packets_are_measured_over_the_time_they_took() -> None:
    meter = BitrateMeter()
    for i in range(30):
        meter.add(1250, 10.0 + i * 0.01)
    assert abs(meter.rate(10.3) - 1_000_000) < 100_000


def test_a_packet_in_the_very_first_bucket_counts() -> None:
    meter = BitrateMeter()
    meter.add(1250, 0.0)
    assert meter.rate(0.05) > 0


def test_a_clock_that_steps_back_does_not_break_the_meter() -> None:
    meter = BitrateMeter()
    meter.add(100, 5.0)
    meter.add(100, 4.0)
    assert meter.rate(5.0) > 0
