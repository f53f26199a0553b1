"""A Chromium page whose media is on one worker meets a Python participant whose media is on
the other: a meeting spread over two workers (`--worker-capacity 1`), the camera and voice
of each relayed to the other's worker."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.meeting import decoding_from, enter, frames_from
from tests.helpers.redis import RedisServer
from tests.helpers.spanning import media_on, spanned_meeting
from tests.helpers.waiting import wait_until


async def test_a_browser_sees_and_hears_a_participant_whose_media_is_on_another_worker(
    browser: Browser, redis_server: RedisServer, tmp_path: Path
) -> None:
    async with spanned_meeting(tmp_path, redis_server.url, capacity=1) as span:
        pat = await span.join("Python Pat")  # media on the home
        await pat.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(width=320, height=180))
        context = await browser.new_context(permissions=["camera", "microphone"])
        await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
        try:
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await enter(page, span.home.link(span.join_url), "Browser Bea")  # the other worker
            await media_on(span, home=1, other=1)
            await wait_until(lambda: decoding_from(page, 1), timeout=30)
            [bea] = [p for p in pat.participants if p != pat.id]
            await frames_from(pat, bea)
            await pat.wait_until(lambda: pat.participants[bea]["audio"])
            slot = pat.media.slot_of(bea, "microphone")
            assert slot is not None
            await pat.wait_until(lambda: pat.media.received[slot].packets > 20, timeout=15)
            assert errors == []
        finally:
            await context.close()
