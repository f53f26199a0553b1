"""The gallery with a dozen people: pages, and only the videos on screen are received."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page, expect

from mosaic.client import Participant, join
from mosaic.client.synthetic import PatternVideoTrack
from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import signup
from tests.helpers.waiting import wait_until

ACTIVE_VIDEOS = """async () => {
    const pc = window.mosaicRoom.media.subscriber;
    const packets = async () => {
        const counts = {};
        (await pc.getStats()).forEach((s) => {
            if (s.type === 'inbound-rtp' && s.kind === 'video') counts[s.mid] = s.packetsReceived;
        });
        return counts;
    };
    const before = await packets();
    await new Promise((r) => setTimeout(r, 2000));
    const after = await packets();
    return Object.keys(after).filter((mid) => after[mid] - (before[mid] || 0) > 3).length;
}"""


async def remote_tiles_shown(page: Page) -> int:
    return await page.locator("#gallery .tile:not(.self), #featured .tile:not(.self)").count()


async def test_twelve_people_on_pages_and_only_visible_video_is_received(
    server, new_page: PageFactory, artifacts
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False, passcode_required=False)
    bots: list[Participant] = []
    for index in range(11):
        bot = await join(
            meeting["join_url"],
            name=f"Guest {index + 1:02d}",
            local_addresses=["127.0.0.1"],
            decode=False,
        )
        await bot.publish(video=PatternVideoTrack(width=320, height=180, fps=8, shade=index * 20))
        bots.append(bot)
    page = await new_page(width=1400, height=900)
    await page.add_init_script("localStorage.setItem('mosaic.camOn', 'false')")
    # The viewer is the host: eleven guests at once look like a join flood to the meeting.
    await page.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in host.cookies.items()]
    )
    try:
        await enter(page, meeting["join_url"], "Viewer")
        # A page of 16 holds all twelve.
        await page.select_option("#page-size", "16")
        await expect(page.locator("#gallery .tile")).to_have_count(12)
        await expect(page.locator("#pager")).to_be_hidden()
        await wait_until(lambda: _videos_playing(page, 11), timeout=40)
        assert await page.evaluate(ACTIVE_VIDEOS) == 11
        # Pages of 9: two pages, and video only for the tiles on the page shown.
        await page.select_option("#page-size", "9")
        await expect(page.locator("#gallery .tile")).to_have_count(9)
        await expect(page.locator("#page-label")).to_have_text("Page 1 of 2")
        await wait_until(lambda: _videos_playing(page, 8), timeout=30)
        await asyncio.sleep(1)
        assert await page.evaluate(ACTIVE_VIDEOS) == 8  # 9 tiles, one of them me
        await page.screenshot(path=str(artifacts / "gallery-9-tiles.png"))
        await page.click("#page-next")
        await expect(page.locator("#gallery .tile")).to_have_count(3)
        await wait_until(lambda: _videos_playing(page, 3), timeout=30)
        await asyncio.sleep(1)
        assert await page.evaluate(ACTIVE_VIDEOS) == 3
        # Speaker view: one large, a strip of the others.
        await page.select_option("#layout-select", "speaker")
        await expect(page.locator("#featured .tile")).to_have_count(1)
        await wait_until(lambda: _featured_playing(page), timeout=30)
        await page.screenshot(path=str(artifacts / "speaker-view.png"))
    finally:
        await asyncio.gather(*(bot.leave() for bot in bots))


async def _videos_playing(page: Page, count: int) -> bool:
    widths = await page.evaluate(
        "() => [...document.querySelectorAll('#gallery .tile:not(.self) video')]"
        ".map(v => v.videoWidth)"
    )
    return sum(1 for w in widths if w > 0) >= count


async def _featured_playing(page: Page) -> bool:
    return await page.evaluate(
        "() => [...document.querySelectorAll('#featured video')].some(v => v.videoWidth > 0)"
    )
