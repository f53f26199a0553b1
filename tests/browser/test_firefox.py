"""Firefox ESR in a meeting with Chromium and a Python participant: it publishes and receives.

Firefox writes its offers its own way (port 0 and ``a=bundle-only`` on every section but the
first, VP8 120/RTX 124, Opus 109, one FID group per simulcast layer) and trickles an empty
end-of-candidates; each of these once kept it from publishing. Every test here runs in a
network namespace of its own (tests/helpers/netns.py): Firefox gathers no candidate without
a default route, and the test must not give the machine one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page as ChromiumPage
from playwright.async_api import async_playwright

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS
from mosaic.client import Participant, join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.meeting import decoding_from, enter
from tests.helpers import firefox
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox
from tests.helpers.firefox_lab import (
    FIREFOX_LAB,
    LOOPBACK,
    STATS,
    TILES,
    firefox_decodes,
    firefox_enters,
)
from tests.helpers.firefox_media import id_of, python_decodes, python_hears
from tests.helpers.server import MosaicServer
from tests.helpers.waiting import wait_until

pytestmark = FIREFOX_LAB


@pytest.fixture
async def chromium(inside: str) -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


async def test_firefox_chromium_and_python_see_and_hear_each_other(
    lab_server: MosaicServer, fox: Firefox, chromium: Any
) -> None:
    host = await signup(lab_server.url)
    meeting = await host.create_meeting(waiting_room=False)
    python = await join(meeting["join_url"], name="Pat", local_addresses=LOOPBACK)
    async with python:
        await python.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
        context = await chromium.new_context(permissions=["camera", "microphone"])
        await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
        chrome: ChromiumPage = await context.new_page()
        await enter(chrome, meeting["join_url"], "Chris")
        page = await fox.first_page()
        await firefox_enters(page, meeting["join_url"], "Fiona")

        await wait_until(firefox_decodes(page, 2), timeout=30)
        await wait_until(lambda: decoding_from(chrome, 2), timeout=30)
        await python.wait_until(lambda: len(python.participants) == 3)
        for name in ("Fiona", "Chris"):
            assert await python_decodes(python, id_of(python, name)) > 0
            await python_hears(python, id_of(python, name))
        # Live video at Chromium from Firefox, not one frozen frame.
        tiles = await chrome.evaluate(f"() => {TILES}")
        assert tiles[id_of(python, "Fiona")] > 0, tiles
        assert fox.errors == [], fox.errors
        # Firefox's trickle (its empty end-of-candidates included) got answers, not failures.
        assert "request failed" not in lab_server.log
        await context.close()


async def test_firefox_simulcast_layers_reach_the_server_and_a_small_tile_gets_a_small_one(
    lab_server: MosaicServer, fox: Firefox
) -> None:
    host = await signup(lab_server.url)
    meeting = await host.create_meeting(waiting_room=False)
    page = await fox.first_page()
    await firefox_enters(page, meeting["join_url"], "Fiona", **{"mosaic.micOn": "false"})
    python = await join(meeting["join_url"], name="Pat", local_addresses=LOOPBACK)
    async with python:
        fiona = id_of(python, "Fiona")

        sent: list[dict[str, Any]] = []

        async def three_layers_sent() -> bool:
            sent[:] = (await page.evaluate(STATS))["sent"]
            return sorted(s["rid"] for s in sent if s["packetsSent"] > 50) == ["f", "h", "q"]

        try:
            await wait_until(three_layers_sent, timeout=20)
        except AssertionError:
            raise AssertionError(f"Firefox's layers: {sent}") from None
        await python.view([{"participant": fiona, "width": 160, "height": 90}])
        await wait_until(lambda: _python_width_is(python, fiona, 160), timeout=20)
        await python.view([{"participant": fiona, "width": 640, "height": 360}])
        await wait_until(lambda: _python_width_is(python, fiona, 640), timeout=20)


async def _python_width_is(viewer: Participant, sender_id: str, width: int) -> bool:
    return await _width_now(viewer, sender_id) == width


async def _width_now(viewer: Participant, sender_id: str) -> int:
    """The width of the frames the Python participant decodes now, three in a row.

    A remote track queues every frame it decodes until they are read: frames decoded while
    the test waited for an earlier width are read first, and a switch shows up only once
    they are gone (at three frames a poll, seconds after it happened). So: the queued ones
    are skipped (read until a frame has to be waited for), then three current ones read."""
    await viewer.wait_until(lambda: viewer.track_of(sender_id) is not None, timeout=20)
    track = viewer.track_of(sender_id)
    assert track is not None
    while True:
        try:
            await asyncio.wait_for(track.recv(), 0.02)
        except TimeoutError:
            break
    width = 0
    for _ in range(3):
        width = (await asyncio.wait_for(track.recv(), 10)).width
    return width


@pytest.fixture
async def fox_with_screen(inside: str) -> AsyncIterator[Firefox]:
    """Firefox with a window on a virtual screen: headless Firefox has nothing to share."""
    with firefox.virtual_screen() as display:
        async with Firefox(display=display) as browser:
            yield browser


@pytest.mark.skipif(
    firefox.screen_unavailable() is not None, reason=f"{firefox.screen_unavailable()}"
)
async def test_firefox_shares_its_screen(
    lab_server: MosaicServer, fox_with_screen: Firefox
) -> None:
    fox = fox_with_screen
    host = await signup(lab_server.url)
    meeting = await host.create_meeting(waiting_room=False, screen_share="everyone")
    page = await fox.first_page()
    await firefox_enters(page, meeting["join_url"], "Fiona", **{"mosaic.camOn": "false"})
    python = await join(meeting["join_url"], name="Pat", local_addresses=LOOPBACK)
    async with python:
        fiona = id_of(python, "Fiona")
        await page.evaluate("(document.querySelector('#share').click(), true)", user_gesture=True)
        await python.wait_until(lambda: python.participants[fiona].get("screen"), timeout=15)
        await python.view(
            [{"participant": fiona, "source": "screen", "width": 1280, "height": 720}]
        )
        await python.wait_until(lambda: python.track_of(fiona, "screen") is not None, timeout=15)
        track = python.track_of(fiona, "screen")
        assert track is not None
        # The virtual screen is 1280x720: frames of that screen, decoded, and more coming.
        for _ in range(5):
            frame = await asyncio.wait_for(track.recv(), 15)
            assert (frame.width, frame.height) == (1280, 720)
