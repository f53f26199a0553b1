"""Transport-wide congestion control with a real receiver: Chromium negotiates the extension
and returns transport-cc feedback that the SFU matches against what it sent (the Python
client's REMB and receiver reports: tests/integration/test_downlink_feedback.py)."""

from __future__ import annotations

from pathlib import Path

from mosaic.client import parse_join_url
from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_services_in_process, subscribe_peer
from tests.helpers.waiting import wait_until


async def test_chromium_returns_transport_wide_feedback_for_what_the_sfu_sent(
    new_page: PageFactory, tmp_path: Path
) -> None:
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        pages = [await new_page(), await new_page()]
        for page, name in zip(pages, ("Ada", "Ben"), strict=True):
            await enter(page, created["join_url"], name)
        viewer = pages[1]
        await wait_until(lambda: decoding_from(viewer, 1), timeout=30)
        peer = subscribe_peer(
            services, meeting_id, await viewer.evaluate("window.mosaicRoom.selfId")
        )
        # Chromium's answer kept the extension on every section, audio and video.
        assert peer.slots and all(down.numbered for down in peer.slots)
        start = peer.transport_feedbacks

        async def twenty_more() -> bool:
            return peer.transport_feedbacks - start >= 20

        await wait_until(twenty_more, timeout=5)
        # The numbers it reports are the ones we sent, and on loopback nearly all arrived.
        assert peer.packets_reported > 100
        assert peer.packets_arrived >= 0.95 * peer.packets_reported
        assert peer.estimated_bps > 0
        await host.client.aclose()
        for page in pages:
            await page.close()
