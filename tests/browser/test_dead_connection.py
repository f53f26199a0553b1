"""The web client replaces a media connection whose server end died while ICE stays up."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from playwright.async_api import Page

from mosaic.client import join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoded, enter, frames_from
from tests.helpers.api import signup
from tests.helpers.inprocess import end_server_dtls, serve_services_in_process
from tests.helpers.waiting import wait_until

LOOPBACK = ["127.0.0.1"]


async def test_a_subscribe_connection_whose_server_end_died_is_replaced(
    new_page: PageFactory, tmp_path: Path
) -> None:
    """The server's end of the page's subscribe connection stops sending while its ICE keeps
    answering: the page's connection still reads "connected", so only the silence tells. The
    page starts a new one and plays the video again within about ten seconds."""
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        ann = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        async with ann:
            await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
            page = await new_page()
            await enter(page, created["join_url"], "Viewer")
            await wait_until(lambda: _decoding(page, more_than=5), timeout=30)
            await page.evaluate("window.before = window.mosaicRoom.media.subscriber")
            viewer_id = await page.evaluate("window.mosaicRoom.selfId")
            end_server_dtls(services, meeting_id, viewer_id, "subscribe")
            cut = time.monotonic()
            await asyncio.sleep(2.0)
            state = await page.evaluate("window.before.connectionState")
            assert state == "connected"  # ICE still up: nothing but the silence shows it
            await wait_until(lambda: _decoding(page, more_than=5, fresh=True), timeout=14)
            assert time.monotonic() - cut < 14
            assert await page.evaluate("window.before.connectionState") == "closed"
            await page.close()
        await host.client.aclose()


async def test_a_publish_connection_whose_server_end_died_is_replaced(
    new_page: PageFactory, tmp_path: Path
) -> None:
    """The server's end of the page's publish connection dies: no receiver reports come back,
    nothing of the page reaches the others. The page publishes again on a new connection and
    a Python participant decodes its camera again."""
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        page = await new_page()
        await enter(page, created["join_url"], "Ada")
        ada_id = await page.evaluate("window.mosaicRoom.selfId")
        bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with bob:
            await frames_from(bob, ada_id)
            await page.evaluate("window.before = window.mosaicRoom.media.publisher")
            end_server_dtls(services, meeting_id, ada_id, "publish")
            cut = time.monotonic()
            await wait_until(
                lambda: page.evaluate("window.mosaicRoom.media.publisher !== window.before"),
                timeout=14,
            )
            await frames_from(bob, ada_id)
            assert time.monotonic() - cut < 20
            assert await page.evaluate("window.before.connectionState") == "closed"
        await page.close()
        await host.client.aclose()


async def _decoding(page: Page, more_than: int, fresh: bool = False) -> bool:
    now = await decoded(page)
    return int(now["frames"]) > more_than and (not fresh or not now["same"])
