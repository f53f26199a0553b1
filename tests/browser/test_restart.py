"""The web client through a restart of the server: it waits as long as the server takes, comes
back into the meeting by itself (not to the waiting room, not to a "connection lost" screen),
sends nothing on a socket that has not re-joined, and its media flows again both ways."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from playwright.async_api import Page, expect

import mosaic
from mosaic.client import join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoded, frames_from
from tests.helpers.api import signup
from tests.helpers.restart import restartable
from tests.helpers.server import MosaicServer
from tests.helpers.waiting import wait_until

__all__ = ["restartable"]  # the fixture

LOOPBACK = ["127.0.0.1"]
BACK_WITHIN_S = 10.0
RECONNECTING = json.loads(
    (Path(mosaic.__file__).parent / "web" / "i18n" / "en.json").read_text(encoding="utf-8")
)["connection.reconnecting"]
DOWN_S = 13.0

# Every frame the page sends, by socket: a socket's first request must be join or resume.
RECORD_SENT = """(() => {
    window.sentBySocket = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        if (this.__index === undefined) {
            this.__index = window.sentBySocket.length;
            window.sentBySocket.push([]);
        }
        try { window.sentBySocket[this.__index].push(JSON.parse(data).type); } catch {}
        return send.call(this, data);
    };
})()"""


async def decoding_anew(page: Page, more_than: int = 5) -> bool:
    now = await decoded(page)
    return int(now["frames"]) > more_than and not now["same"]


async def test_the_page_comes_back_by_itself_after_a_restart(
    new_page: PageFactory, restartable: MosaicServer
) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting()  # passcode and waiting room on
    link = meeting["join_url"]
    host = await join(link, name="Host", cookies=account.cookies, local_addresses=LOOPBACK)
    cohost = await join(link, name="Cora", local_addresses=LOOPBACK)
    page = await new_page()
    try:
        await host.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
        await page.add_init_script(RECORD_SENT)
        await page.goto(link)
        await page.fill("#name", "Gus")
        await page.click("#join")
        await expect(page.locator("#waiting")).to_be_visible(timeout=15000)
        await host.wait_until(lambda: len(host.waiting) == 2)
        await host.request("admit", all=True)
        await expect(page.locator("#room")).to_be_visible(timeout=15000)
        await host.request("cohost", participant=cohost.id, cohost=True)
        page_id = await page.evaluate("window.mosaicRoom.selfId")
        await wait_until(lambda: _decoding(page), timeout=30)
        await frames_from(host, page_id)
        await page.evaluate("window.before = window.mosaicRoom.media.subscriber")

        # Down for longer than the page used to wait (12 s, or 4 s when its server forgot it),
        # as a slow upgrade on a busy machine may be; then up again.
        stopped_at = time.monotonic()
        assert await asyncio.to_thread(restartable.stop) == 0
        await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - stopped_at)))
        assert await page.locator("#room").is_visible()
        reconnecting = page.locator(".toast", has_text=RECONNECTING)
        await expect(reconnecting).to_be_visible()  # all along, not for 5 s only
        await asyncio.to_thread(restartable.start)
        started_at = time.monotonic()

        await host.wait_until(
            lambda: (
                host.connection_state == "connected"
                and host.participants.get(page_id, {}).get("role") == "participant"
                and host.participants.get(cohost.id, {}).get("role") == "cohost"
            ),
            timeout=BACK_WITHIN_S,
        )
        await wait_until(lambda: _decoding_anew(page), timeout=BACK_WITHIN_S + 10)
        print(
            f"page back in the roster and decoding {time.monotonic() - started_at:.1f} s after"
            f" the server started again ({time.monotonic() - stopped_at:.1f} s after SIGTERM)"
        )
        await frames_from(host, page_id)  # and its camera reaches the others again
        assert await page.locator("#room").is_visible()
        assert not await page.locator("#ended").is_visible()
        assert not await page.locator("#waiting").is_visible()
        await expect(reconnecting).to_have_count(0)
        assert host.waiting == []  # the admitted guest did not wait again
        sent = await page.evaluate("window.sentBySocket")
        assert len(sent) >= 2  # a socket before the restart, one (or more) after
        for frames in sent:
            assert not frames or frames[0] in ("join", "resume"), frames
        assert not [e for e in page.errors if "join a meeting first" in e]  # type: ignore[attr-defined]
    finally:
        await page.close()
        await cohost.leave()
        await host.leave()
        await account.client.aclose()


async def _decoding(page: Page) -> bool:
    now = await decoded(page)
    return int(now["frames"]) > 5


async def _decoding_anew(page: Page) -> bool:
    return await decoding_anew(page)
