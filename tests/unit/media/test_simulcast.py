from mosaic.media.simulcast import BitrateMeter, Layer, choose_layer

LAYERS = [
    Layer("q", 320, 180, 150_000),
    Layer("h", 640, 360, 500_000),
    Layer("f", 1280, 720, 1_500_000),
]


def test_a_small_tile_gets_the_low_layer_and_a_large_one_the_high_layer() -> None:
    assert choose_layer(LAYERS, 240, 135, None) == "q"
    assert choose_layer(LAYERS, 400, 225, None) == "q"  # 320 * 1.25 covers it
    assert choose_layer(LAYERS, 640, 360, None) == "h"
    assert choose_layer(LAYERS, 1920, 1080, None) == "f"


def test_bandwidth_caps_the_layer_but_the_lowest_is_always_allowed() -> None:
    assert choose_layer(LAYERS, 1920, 1080, 700_000, current="h") == "h"
    assert choose_layer(LAYERS, 1920, 1080, 50_000, current="f") == "q"


def test_moving_up_needs_headroom_and_calm() -> None:
    # 1.5 Mbps * 1.2 headroom / 0.9 usable = 2 Mbps needed to move up to f.
    assert choose_layer(LAYERS, 1280, 720, 1_800_000, current="h") == "h"
    assert choose_layer(LAYERS, 1280, 720, 2_100_000, current="h") == "f"
    assert choose_layer(LAYERS, 1280, 720, 5_000_000, current="h", since_down=1.0) == "h"
    # Staying on f needs no headroom.
    assert choose_layer(LAYERS, 1280, 720, 1_800_000, current="f") == "f"


def test_no_layers_no_choice() -> None:
    assert choose_layer([], 100, 100, None) is None


def test_bitrate_meter_measures_over_its_window() -> None:
    meter = BitrateMeter(window=1.0)
    for i in range(100):
        meter.add(1250, i * 0.01)  # 100 packets of 10 kbit in one second
    assert 900_000 <= meter.rate(0.99) <= 1_000_000
    assert meter.rate(5.0) == 0
