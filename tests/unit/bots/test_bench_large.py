"""The large-meeting benchmark's pure parts: who publishes what, a tile's frame rate, the
target, the table (`bench.large`)."""

from __future__ import annotations

from bench.large import (
    TARGET_FPS,
    Role,
    compare,
    expected_tiles,
    largest,
    lines,
    roles,
    tile_rates,
    viewer_figures,
)
from mosaic.bots.base import MediaMode


def test_a_webinar_panel_speaks_and_shows_its_faces_the_rest_watch_muted() -> None:
    people = roles(6, cameras=3, speakers=2)
    assert [r.mode for r in people] == [MediaMode.VIDEO] * 3 + [MediaMode.NONE] * 3
    assert [r.speaker for r in people] == [True, True, False, False, False, False]
    assert roles(3, cameras=0, speakers=1)[0].mode is MediaMode.AUDIO_ONLY
    # A camera's owner does not view itself; a page holds 49 tiles at most.
    assert expected_tiles(Role(camera=True, speaker=False), 10) == 9
    assert expected_tiles(Role(camera=False, speaker=False), 10) == 10
    assert expected_tiles(Role(camera=False, speaker=False), 80) == 49


def test_a_tile_s_rate_is_its_marked_video_packets_and_a_missing_tile_counts_zero() -> None:
    before = {(96, 1): 100, (96, 2): 50, (111, 7): 5}
    after = {(96, 1): 400, (96, 2): 290, (111, 7): 500, (96, 3): 10}
    rates = tile_rates(before, after, {96}, tiles=4, seconds=10.0)
    assert rates == [30.0, 24.0, 1.0, 0.0]  # the audio SSRC is not a tile


def test_the_target_is_every_viewer_at_24_fps_with_no_tile_missing() -> None:
    good = viewer_figures([[30.0, 30.0], [29.0, 25.0]])
    assert good["every_viewer_at_target"] and good["fps_mean_min"] == 27.0
    assert good["fps_worst_tile_min"] == 25.0
    slow = viewer_figures([[30.0, 30.0], [TARGET_FPS - 1, TARGET_FPS - 1]])
    assert not slow["every_viewer_at_target"]
    missing = viewer_figures([[30.0, 30.0], [48.0, 0.0]])  # a mean of 24 with a dead tile
    assert not missing["every_viewer_at_target"] and missing["tiles_missing"] == 1


def _step(server: str, people: int, ok: bool, cpu: float) -> dict[str, object]:
    return {
        "server": server, "people": people, "cameras": people // 4, "at_target": ok,
        "server_cpu_per_s": cpu, "us_per_packet": cpu * 100, "packets_per_s": 1000.0,
        "server_user_per_s": cpu, "server_system_per_s": 0.0, "fps_mean_p50": 30.0,
        "fps_mean_p5": 29.0, "fps_worst_tile_p5": 28.0, "sent_fps_p5": 30.0,
        "bots_cpu_per_s": 0.5, "bots_saturated": False,
    }  # fmt: skip


def test_the_largest_step_at_target_whose_miss_and_the_ratios_where_both_delivered() -> None:
    runs = [
        _step("mosaic", 16, True, 0.2),
        _step("janus", 16, True, 0.4),
        _step("mosaic", 24, True, 0.3),
        _step("janus", 24, False, 0.6) | {"load_generator_short": True},
        _step("mosaic", 32, False, 0.4),  # missed twice: the step failed
        _step("mosaic", 32, False, 0.5),
    ]
    best = largest(runs)
    assert best["mosaic"] == {
        "people": 24, "cameras": 6, "failed_at": 32, "failed_because": "server",
    }  # fmt: skip
    assert best["janus"]["people"] == 16 and best["janus"]["failed_at"] == 24
    assert best["janus"]["failed_because"] == "load generator short"
    rows = compare(runs)  # only where both delivered the load in full
    assert [(r["people"], r["server_cpu_ratio"]) for r in rows] == [(16, 0.5)]
    table = "\n".join(
        lines(
            {
                "target_fps": 24.0,
                "skipped": {"mosaic-2-workers": "spanning not in this build"},
                "runs": runs,
                "largest": best,
                "comparison": rows,
            }
        )
    )
    assert "mosaic-2-workers: skipped: spanning not in this build" in table
    assert "mosaic: largest at target 24 people (6 cameras); failed at 32 (server)" in table
