"""``mosaic bots``: load a meeting (Mosaic's, or a Janus VideoRoom) with bots.

    mosaic bots --url http://127.0.0.1:8080/m/abcd-efgh-ijkl --count 8 --duration 60
    mosaic bots --janus http://127.0.0.1:8088/janus --room 1234 --count 8 --create-room
    mosaic bots --url ... --count 200 --simulcast --cameras-on 20 --view-page 49

Each bot publishes the replayed clips (see `mosaic.bots.clips`), subscribes to everyone, and
counts what it receives; at the end a JSON summary goes to stdout (``--json`` for only that).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

from mosaic.bots.modes import MediaMode

if TYPE_CHECKING:
    from mosaic.bots.base import Bot

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="the meeting's join link (a passcode in #pwd= is used)")
    target.add_argument("--janus", metavar="URL", help="a Janus HTTP API, e.g. .../janus")
    parser.add_argument("--room", type=int, help="the Janus VideoRoom to join")
    parser.add_argument(
        "--create-room", action="store_true", help="create the Janus room first (benchmarks)"
    )
    parser.add_argument("--count", type=int, default=1, help="how many bots (default 1)")
    parser.add_argument("--passcode", help="the meeting's passcode, if not in the link")
    parser.add_argument(
        "--cookie",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a session cookie to join with (a signed-in host's: more than 11 guests within"
        " 10 s switch a meeting's waiting room on)",
    )
    parser.add_argument(
        "--duration", type=float, default=0, help="seconds to stay, 0 for until Ctrl-C"
    )
    parser.add_argument(
        "--join-interval", type=float, default=0.0, help="seconds between two bots' joins"
    )
    media = parser.add_mutually_exclusive_group()
    media.add_argument(
        "--video", dest="mode", action="store_const", const=MediaMode.VIDEO,
        help="publish audio and video (the default)",
    )  # fmt: skip
    media.add_argument(
        "--audio-only", dest="mode", action="store_const", const=MediaMode.AUDIO_ONLY
    )
    media.add_argument(
        "--no-media", dest="mode", action="store_const", const=MediaMode.NONE,
        help="publish nothing (still receive)",
    )  # fmt: skip
    parser.set_defaults(mode=MediaMode.VIDEO)
    parser.add_argument(
        "--simulcast",
        action="store_true",
        help="publish the camera in the web client's three layers (640x360, 320x180,"
        " 160x90), so that the server's layer choice is exercised (Mosaic only)",
    )
    parser.add_argument(
        "--cameras-on",
        type=int,
        metavar="K",
        help="only the first K bots publish video; the others publish audio only",
    )
    parser.add_argument(
        "--view-page",
        type=int,
        default=0,
        metavar="TILES",
        help="view a page of TILES (1-49) cameras at thumbnail size, as the web client's"
        " gallery does (Mosaic only; default: every camera at full size)",
    )
    parser.add_argument("--decode", action="store_true", help="decode received video")
    parser.add_argument(
        "--local-address",
        action="append",
        default=None,
        help="local address for media (default: 127.0.0.1 for a loopback server)",
    )
    parser.add_argument("--name", default="bot", help="name prefix (bot0, bot1, ...)")
    parser.add_argument("--json", action="store_true", help="print only the JSON summary")


def mode_of(args: argparse.Namespace, index: int) -> MediaMode:
    """What bot ``index`` publishes: ``--cameras-on K`` leaves the camera to the first K."""
    if args.mode is MediaMode.VIDEO and args.cameras_on is not None and index >= args.cameras_on:
        return MediaMode.AUDIO_ONLY
    return MediaMode(args.mode)


def make_bots(args: argparse.Namespace) -> list[Bot]:
    if args.janus:
        from mosaic.bots.janus_bot import JanusBot

        return [
            JanusBot(
                args.janus,
                args.room,
                f"{args.name}{i}",
                mode=mode_of(args, i),
                decode=args.decode,
                local_addresses=args.local_address,
            )
            for i in range(args.count)
        ]
    from mosaic.bots.mosaic_bot import MosaicBot

    cookies = dict(c.split("=", 1) for c in args.cookie)
    return [
        MosaicBot(
            args.url,
            f"{args.name}{i}",
            passcode=args.passcode,
            cookies=cookies or None,
            mode=mode_of(args, i),
            decode=args.decode,
            local_addresses=args.local_address,
            simulcast=args.simulcast,
            view_tiles=args.view_page,
        )
        for i in range(args.count)
    ]


async def _start(bots: list[Bot], interval: float) -> list[Bot]:
    from mosaic.bots.swarm import start_all

    if interval <= 0:
        return await start_all(bots)
    started = []
    for bot in bots:
        started += await start_all([bot])
        await asyncio.sleep(interval)
    return started


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from mosaic.bots.clips import audio_clip, layer_clips, video_clip
    from mosaic.bots.mosaic_bot import MAX_PAGE_TILES
    from mosaic.bots.swarm import stop_all, summary

    if args.janus and args.room is None:
        raise SystemExit("--janus needs --room")
    if args.janus and (args.simulcast or args.view_page):
        raise SystemExit("--simulcast and --view-page are for Mosaic meetings (--url)")
    if not 0 <= args.view_page <= MAX_PAGE_TILES:
        raise SystemExit(f"--view-page takes 1 to {MAX_PAGE_TILES} tiles")
    if args.cameras_on is not None and args.cameras_on < 0:
        raise SystemExit("--cameras-on takes 0 or more")
    if args.mode is not MediaMode.NONE:
        # Encode once, before anyone joins.
        if args.simulcast:
            layer_clips()
        else:
            video_clip()
        audio_clip()
    if args.janus and args.create_room:
        from mosaic.bots.janus_api import create_room

        await create_room(args.janus, args.room, publishers=max(args.count + 2, 6))
    bots = make_bots(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = await _start(bots, args.join_interval)
    if not args.json:
        print(f"{len(started)}/{len(bots)} bots joined", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        if args.duration > 0:
            await asyncio.wait_for(stop.wait(), args.duration)
        else:
            await stop.wait()
    except TimeoutError:
        pass
    seconds = time.monotonic() - began
    result = summary(bots, seconds)
    await stop_all(started)
    return result


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("aiortc", "aioice"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    result = asyncio.run(run(args))
    if not args.json:
        totals = {k: v for k, v in result.items() if k != "per_bot"}
        print(json.dumps(totals, indent=2), file=sys.stderr)
    print(json.dumps(result))
    return 0 if result["joined"] == result["bots"] else 1
