"""A Chromium page and a Python participant whose WebSockets land on two different workers of
one cluster: the page's signaling is served on one, relayed to the meeting's home by the
other, and each receives the other's audio and video."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from mosaic.client import join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.meeting import decoding_from, enter, frames_from
from tests.helpers.api import signup
from tests.helpers.cluster_nodes import workers_of_one_machine
from tests.helpers.participants import LOOPBACK
from tests.helpers.redis import RedisServer
from tests.helpers.waiting import wait_until


async def test_a_browser_and_a_python_participant_on_two_workers_meet(
    browser: Browser, redis_server: RedisServer, tmp_path: Path
) -> None:
    with workers_of_one_machine(tmp_path / "data", redis_server.url) as nodes:
        host = await signup(nodes[0].url)
        created = await host.create_meeting(waiting_room=False)
        publisher = await join(
            nodes[0].link(created["join_url"]),
            name="Python Pat",
            cookies=host.cookies,
            local_addresses=LOOPBACK,
        )
        context = await browser.new_context(permissions=["camera", "microphone"])
        await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
        try:
            async with publisher:
                await publisher.publish(
                    audio=ToneAudioTrack(), video=PatternVideoTrack(width=320, height=180)
                )
                page = await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await enter(page, nodes[1].link(created["join_url"]), "Browser Bea")
                await wait_until(lambda: decoding_from(page, 1), timeout=30)
                [bea] = [p for p in publisher.participants if p != publisher.id]
                await frames_from(publisher, bea)
                await publisher.wait_until(lambda: publisher.participants[bea]["audio"])
                assert errors == []
        finally:
            await context.close()
        await host.client.aclose()
