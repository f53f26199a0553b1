"""`mosaic bots` and `mosaic bench` sit beside `mosaic serve` in the one entry point."""

from __future__ import annotations

from mosaic.bots.modes import MediaMode
from mosaic.cli import build_parser, main


def test_bots_take_a_meeting_link_a_count_and_what_to_publish() -> None:
    args = build_parser().parse_args(
        ["bots", "--url", "http://127.0.0.1:8080/m/abcd-efgh-ijkl", "--count", "5",
         "--duration", "30", "--audio-only", "--passcode", "123456"]
    )  # fmt: skip
    assert args.command == "bots"
    assert (args.count, args.duration, args.passcode) == (5, 30.0, "123456")
    assert args.mode is MediaMode.AUDIO_ONLY
    default = build_parser().parse_args(["bots", "--url", "http://h/m/x"])
    assert default.mode is MediaMode.VIDEO and not default.decode
    signaling_only = build_parser().parse_args(["bots", "--url", "http://h/m/x", "--no-media"])
    assert signaling_only.mode is MediaMode.NONE


def test_bots_can_target_a_janus_room_instead() -> None:
    args = build_parser().parse_args(
        ["bots", "--janus", "http://127.0.0.1:8088/janus", "--room", "42", "--create-room"]
    )
    assert (args.janus, args.room, args.create_room, args.url) == (
        "http://127.0.0.1:8088/janus", 42, True, None,
    )  # fmt: skip


def test_bench_passes_its_arguments_through_and_serve_is_unchanged(monkeypatch) -> None:
    import bench.__main__

    seen = []
    monkeypatch.setattr(bench.__main__, "main", lambda argv: seen.append(argv) or 0)
    assert main(["bench", "--quick", "--only", "join"]) == 0
    assert seen == [["--quick", "--only", "join"]]
    serve = build_parser().parse_args(["serve", "--port", "9999"])
    assert serve.command == "serve" and serve.port == 9999


def test_bots_can_send_simulcast_with_only_k_cameras_on_and_view_a_page() -> None:
    from mosaic.bots.cli import mode_of

    args = build_parser().parse_args(
        ["bots", "--url", "http://h/m/x", "--count", "5", "--simulcast", "--cameras-on", "2",
         "--view-page", "49"]
    )  # fmt: skip
    assert args.simulcast and args.view_page == 49
    assert [mode_of(args, i) for i in range(5)] == [MediaMode.VIDEO] * 2 + [
        MediaMode.AUDIO_ONLY
    ] * 3
    plain = build_parser().parse_args(["bots", "--url", "http://h/m/x", "--count", "3"])
    assert not plain.simulcast and plain.view_page == 0
    assert [mode_of(plain, i) for i in range(3)] == [MediaMode.VIDEO] * 3
    silent = build_parser().parse_args(["bots", "--url", "h", "--no-media", "--cameras-on", "1"])
    assert mode_of(silent, 0) is MediaMode.NONE
