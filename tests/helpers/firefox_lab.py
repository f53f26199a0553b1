"""Firefox ESR in a network namespace of the test's own, with a `mosaic serve` inside it.

Firefox gathers no ICE candidate without a default route, and the test must not give the
machine one: each test gets a namespace with a veth and a default route (tests/helpers/netns.py),
and the server, Firefox and any other participant run inside it on 127.0.0.1. Test modules
import these fixtures and mark themselves with `FIREFOX_LAB`.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import firefox, netns
from tests.helpers.firefox import Firefox, Page
from tests.helpers.server import MosaicServer

FIREFOX_LAB = [
    pytest.mark.browser,
    pytest.mark.needs_root,
    pytest.mark.skipif(firefox.unavailable() is not None, reason=f"{firefox.unavailable()}"),
    pytest.mark.skipif(netns.unavailable() is not None, reason=f"{netns.unavailable()}"),
]
LOOPBACK = ["127.0.0.1"]


@pytest.fixture
def inside() -> Iterator[str]:
    with netns.private_network(f"mosaic-ff-{os.getpid()}") as name:
        yield name


@pytest.fixture
def lab_server(inside: str, tmp_path: Path) -> Iterator[MosaicServer]:
    """`mosaic serve` on 127.0.0.1 of the test's namespace (the fixture order puts it there)."""
    running = MosaicServer(tmp_path / "data", "--join-rate-per-minute", "100000").start()
    yield running
    running.stop()
    print(running.log[-6000:])  # shown by pytest for a failed test only


@pytest.fixture
async def fox(inside: str) -> AsyncIterator[Firefox]:
    async with Firefox() as browser:
        yield browser


async def firefox_enters(page: Page, join_url: str, name: str, **store: str) -> None:
    """Open the link in Firefox, type a name, join; standard quality (640x360) as in the
    Chromium tests, so three encoders fit this machine."""
    settings = {"mosaic.videoQuality": "standard", **store}
    await page.store(join_url, settings)
    await page.goto(join_url)
    # Join stops being aria-disabled once the pre-join preview has its camera and microphone.
    await page.wait_for(
        "!!document.querySelector('#join')"
        " && !document.querySelector('#join').hasAttribute('aria-disabled')"
    )
    await page.evaluate(
        f"""(() => {{
            const name = document.querySelector('#name');
            name.value = {json.dumps(name)};
            name.dispatchEvent(new Event('input', {{bubbles: true}}));
            document.querySelector('#join').click();
            return true;
        }})()""",
        user_gesture=True,
    )
    await page.wait_for("!!(window.mosaicRoom && window.mosaicRoom.media.publisher)")


# What the page receives and sends, from getStats (Firefox and Chromium name these alike).
STATS = """(async () => {
    const stats = await window.mosaicRoom.media.stats();
    const inbound = (kind) => stats.inbound.filter((s) => s.kind === kind && s.packetsReceived)
        .map((s) => ({framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0,
                      packetsReceived: s.packetsReceived}));
    return {
        video: inbound("video"), audio: inbound("audio"),
        sent: stats.outbound.filter((s) => s.kind === "video").map((s) => ({
            rid: s.rid || null, packetsSent: s.packetsSent || 0, frameWidth: s.frameWidth || 0})),
    };
})()"""
# participant id -> width of the video its tile plays.
TILES = """Object.fromEntries([...document.querySelectorAll('#stage .tile:not(.self)')]
    .map((tile) => [tile.dataset.participantId, tile.querySelector('video').videoWidth]))"""


def firefox_decodes(page: Page, count: int) -> Callable[[], Awaitable[bool]]:
    """A condition for `wait_until`: the page decodes video and plays audio from ``count``
    others, and as many tiles show a picture."""

    async def check() -> bool:
        stats = await page.evaluate(STATS)
        videos = [v for v in stats["video"] if v["framesDecoded"] > 0 and v["frameWidth"] > 0]
        tiles = await page.evaluate(TILES)
        return (
            len(videos) >= count
            and len(stats["audio"]) >= count
            and (sum(width > 0 for width in tiles.values()) >= count)
        )

    return check
