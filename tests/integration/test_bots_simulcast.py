"""Bots that look like real people in a large meeting (issue 14): a camera in the web
client's three simulcast layers, only some cameras on, a page of thumbnails viewed.

A real server (`mosaic serve`), real aiortc peers: the bots and the viewers decode what the
SFU forwards, and the picture's size says which layer it chose."""

from __future__ import annotations

import asyncio
import contextlib

from mosaic.bots.cli import make_bots
from mosaic.bots.mosaic_bot import THUMBNAIL_SIZE, MosaicBot
from mosaic.bots.swarm import start_all, stop_all
from mosaic.cli import build_parser
from mosaic.client import Participant, join
from tests.helpers.participants import LOOPBACK
from tests.helpers.simulcast import decodes_at, tile


async def test_a_simulcast_bot_sends_three_layers_and_each_tile_gets_its_own(server, host) -> None:
    """The bot's three layers reach the SFU: a viewer of a thumbnail decodes the 160x90 one,
    a viewer of a half-size tile the 320x180 one, a viewer of a large tile the 640x360 one."""
    created = await host.create_meeting(waiting_room=False)
    link = created["join_url"]
    bot = MosaicBot(link, "bot0", cookies=host.cookies, local_addresses=LOOPBACK, simulcast=True)
    await bot.start()
    viewers: list[Participant] = []
    try:
        assert bot.participant is not None and bot.participant.id is not None
        publisher = bot.participant.id
        sizes = [(160, 90), (320, 180), (640, 360)]
        for index, (width, height) in enumerate(sizes):
            viewer = await join(link, name=f"Viewer{index}", local_addresses=LOOPBACK)
            viewers.append(viewer)
            await viewer.view(tile(publisher, width, height))
        await asyncio.gather(
            *(decodes_at(v, publisher, width) for v, (width, _) in zip(viewers, sizes, strict=True))
        )
        # A viewer whose tile grows is moved up to the large layer.
        await viewers[0].view(tile(publisher, 640, 360))
        await decodes_at(viewers[0], publisher, 640)
        assert bot.tracks.layers is not None
        layers = bot.tracks.layers.layers
        assert all(track.sent > 0 for track in layers.values())  # type: ignore[attr-defined]

        # The SFU's keyframe requests (a viewer starting on a layer) reach the small layers'
        # own senders, by their SSRCs. A layer whose keyframe is at hand (the clip's loop
        # restarts every layer at once) needs no request, so the large tile's viewer moves
        # down to a thumbnail and back until one was needed.
        def small_requests() -> int:
            return sum(layers[rid].keyframes_requested for rid in ("q", "h"))  # type: ignore[attr-defined]

        for _ in range(4):
            if small_requests():
                break
            await viewers[2].view(tile(publisher, 160, 90))
            await decodes_at(viewers[2], publisher, 160)
            await viewers[2].view(tile(publisher, 640, 360))
            await decodes_at(viewers[2], publisher, 640)
        assert small_requests() > 0, {rid: t.keyframes_requested for rid, t in layers.items()}  # type: ignore[attr-defined]
    finally:
        for viewer in viewers:
            with contextlib.suppress(Exception):
                await viewer.leave()
        await bot.stop()


async def test_cameras_on_publishes_exactly_k_videos_and_bots_view_a_page(server, host) -> None:
    """``mosaic bots --count 3 --cameras-on 1 --simulcast --view-page 49``: everyone is
    heard, one camera is on, and each bot asks for a page of thumbnails, cameras first."""
    created = await host.create_meeting(waiting_room=False)
    link = created["join_url"]
    args = build_parser().parse_args(
        ["bots", "--url", link, "--count", "3", "--cameras-on", "1", "--simulcast",
         "--view-page", "49"]
    )  # fmt: skip
    bots = make_bots(args)
    observer = await join(link, name="Observer", local_addresses=LOOPBACK)
    started = await start_all(bots)
    try:
        assert len(started) == 3
        ids = {bot.participant.id for bot in bots}  # type: ignore[attr-defined]

        def on(flag: str) -> set[str]:
            return {p for p in ids if observer.participants.get(p, {}).get(flag)}

        await observer.wait_until(lambda: len(on("audio")) == 3 and len(on("video")) == 1)
        await asyncio.sleep(0.5)  # a second camera, were one coming, would show by now
        assert len(on("video")) == 1 and len(on("audio")) == 3
        camera = bots[0].participant.id  # type: ignore[attr-defined]
        assert on("video") == {camera}
        viewer = bots[2].participant  # type: ignore[attr-defined]
        await viewer.wait_until(lambda: len(viewer.media.last_view or []) == 3)
        page = viewer.media.last_view
        assert page[0]["participant"] == camera  # cameras on come first on the page
        assert {(v["width"], v["height"]) for v in page} == {THUMBNAIL_SIZE}
    finally:
        await stop_all(started)
        await observer.leave()
