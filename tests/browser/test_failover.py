"""The web client through a failover: kill -9 of its meeting's home worker.

Two workers of one cluster behind a load balancer (`tests.helpers.balancer`); a Chromium page
and a Python host in one meeting. The home dies: the page says "Reconnecting…" (only while it
does), comes back into the meeting by itself on the new home, decodes the host's video on a new
connection, and its chat shows each message once although the new home gave the chat back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

import mosaic
from mosaic.client import join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.meeting import decoded, decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.balancer import Service, balanced_workers
from tests.helpers.participants import LOOPBACK
from tests.helpers.redis import RedisServer
from tests.helpers.waiting import wait_until

RECONNECTING = json.loads(
    (Path(mosaic.__file__).parent / "web" / "i18n" / "en.json").read_text(encoding="utf-8")
)["connection.reconnecting"]

# Every toast the page shows, however briefly (the failover takes about a second).
RECORD_TOASTS = """(() => {
    window.toastsShown = [];
    new MutationObserver((records) => {
        for (const record of records) for (const node of record.addedNodes) {
            if (node.classList && node.classList.contains('toast')) {
                window.toastsShown.push(node.textContent);
            }
        }
    }).observe(document, {childList: true, subtree: true});
})()"""


@pytest.fixture
def service(tmp_path: Path, redis_server: RedisServer) -> Iterator[Service]:
    with balanced_workers(tmp_path / "data", redis_server) as running:
        yield running


async def test_the_page_says_reconnecting_and_comes_back_after_its_home_is_killed(
    browser: Browser, service: Service
) -> None:
    account = await signup(service.nodes[0].url)
    created = await account.create_meeting(waiting_room=False)
    link = service.link(created["join_url"])
    host = await join(link, name="Host", cookies=account.cookies, local_addresses=LOOPBACK)
    context = await browser.new_context(permissions=["camera", "microphone"])
    await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
    await context.add_init_script(RECORD_TOASTS)
    try:
        await host.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(width=320, height=180))
        page = await context.new_page()
        await enter(page, link, "Bea")
        await wait_until(lambda: decoding_from(page, 1), timeout=30)
        await host.request("chat", text="welcome")
        chat = page.locator("#chat-log li")
        await expect(chat).to_have_count(1)
        await page.evaluate("window.before = window.mosaicRoom.media.subscriber")

        home = await service.home_of(parse_join_url(link)[1])
        assert home.server.process is not None
        killed_at = time.monotonic()
        home.server.process.kill()

        async def decoding_anew() -> bool:
            now = await decoded(page)
            return int(now["frames"]) > 5 and not now["same"]

        await wait_until(decoding_anew, timeout=15)
        print(f"the page decodes anew {time.monotonic() - killed_at:.1f} s after kill -9")
        shown = await page.evaluate("window.toastsShown")
        assert RECONNECTING in shown, shown
        await expect(page.locator(".toast", has_text=RECONNECTING)).to_have_count(0)
        assert await page.locator("#room").is_visible()
        await expect(chat).to_have_count(1)  # given back, shown once
        await host.request("chat", text="still here")
        await expect(chat).to_have_count(2)
    finally:
        await context.close()
        await host.leave()
        await account.client.aclose()
