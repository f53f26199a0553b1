"""End-to-end encryption across clients (issue 16): two Chromium pages, Firefox ESR, Python.

Each browser encrypts its frames in a worker: Firefox and one Chromium page through
RTCRtpScriptTransform, the other Chromium page through the older createEncodedStreams, so both
paths meet the same frame format, and the Python client (mosaic.client) encrypts before
packetization and decrypts after reassembly. Everyone plays everyone's video and hears their
audio, chat and reactions arrive, and all four read the same safety code. Runs in a network
namespace of its own like every Firefox test (tests/helpers/firefox_lab.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Page as ChromiumPage
from playwright.async_api import async_playwright, expect

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS
from mosaic.client import join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.browser.meeting import decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.e2ee_pages import e2ee_state, link_key, with_key
from tests.helpers.firefox import Firefox
from tests.helpers.firefox_lab import (
    FIREFOX_LAB,
    LOOPBACK,
    firefox_decodes,
    firefox_enters,
)
from tests.helpers.firefox_media import id_of, python_decodes, python_hears
from tests.helpers.server import MosaicServer
from tests.helpers.waiting import wait_until

pytestmark = FIREFOX_LAB

E2EE_STATE = """(() => {
    const e = window.mosaicRoom.e2ee;
    return {code: e.safetyCode, transform: e.useScriptTransform ? 'script' : 'streams',
            decoded: e.decoded};
})()"""


@pytest.fixture
async def chromium(inside: str) -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


async def chromium_page(browser: Any, transform: str | None = None) -> ChromiumPage:
    context = await browser.new_context(permissions=["camera", "microphone"])
    await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
    if transform:
        await context.add_init_script(
            f"localStorage.setItem('mosaic.e2ee.transform', '{transform}')"
        )
    return await context.new_page()


async def test_two_chromium_pages_firefox_and_python_meet_end_to_end_encrypted(
    lab_server: MosaicServer, fox: Firefox, chromium: Any
) -> None:
    host = await signup(lab_server.url)
    meeting = await host.create_meeting(waiting_room=False, e2ee=True)
    link = with_key(meeting["join_url"], link_key())
    python = await join(link, name="Pat", local_addresses=LOOPBACK)
    async with python:
        await python.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
        ada = await chromium_page(chromium)
        ben = await chromium_page(chromium, transform="streams")
        await enter(ada, link, "Ada")
        await enter(ben, link, "Ben")
        fox_page = await fox.first_page()
        await firefox_enters(fox_page, link, "Fiona")

        assert (await e2ee_state(ada))["transform"] == "script"
        assert (await e2ee_state(ben))["transform"] == "streams"
        assert (await fox_page.evaluate(E2EE_STATE))["transform"] == "script"
        await wait_until(firefox_decodes(fox_page, 3), timeout=40)
        for page in (ada, ben):
            await wait_until(lambda page=page: decoding_from(page, 3), timeout=40)
        await python.wait_until(lambda: len(python.participants) == 4)
        for name in ("Ada", "Ben", "Fiona"):
            assert await python_decodes(python, id_of(python, name)) > 0
            await python_hears(python, id_of(python, name))
        assert python.e2ee is not None
        assert all(python.e2ee.decrypted.get(id_of(python, n), 0) > 0 for n in ("Ben", "Fiona"))
        # What they play was decrypted from each of the three others (no clear frame is shown).
        for page in (ada, ben):
            await wait_until(
                lambda page=page: page.evaluate(
                    "() => Object.values(window.mosaicRoom.e2ee.decoded)"
                    ".filter((n) => n > 0).length >= 3"
                ),
                timeout=5,
            )

        async def one_code() -> str | None:
            codes = {
                (await e2ee_state(ada))["code"],
                (await e2ee_state(ben))["code"],
                (await fox_page.evaluate(E2EE_STATE))["code"],
                python.safety_code,
            }
            return codes.pop() if len(codes) == 1 and None not in codes else None

        await wait_until(one_code, timeout=10)

        # Chat from Firefox, encrypted there, read in both Chromium pages and by Python; a
        # reaction from Ben.
        await fox_page.evaluate(
            """(() => {
                document.querySelector('#chat').click();
                document.querySelector('#chat-text').value = 'bonjour from the fox';
                document.querySelector('#chat-form').requestSubmit();
                return true;
            })()""",
            user_gesture=True,
        )
        # Firefox shows it too, once the server relayed it (its toasts say why not).
        try:
            await fox_page.wait_for(
                "[...document.querySelectorAll('#chat-log .chat-text')]"
                ".some((m) => m.textContent === 'bonjour from the fox')",
                timeout=10,
            )
        except Exception:
            said = await fox_page.evaluate(
                "document.querySelector('#toasts').textContent"
                " + ' | ' + document.querySelector('#chat-log').textContent"
            )
            raise AssertionError(f"Firefox's chat did not go: {said}") from None
        for page in (ada, ben):
            await expect(page.locator("#chat-log .chat-text")).to_have_text(
                ["bonjour from the fox"]
            )
        await python.wait_until(
            lambda: any(m["text"] == "bonjour from the fox" for m in python.chat)
        )
        await ben.click("#react")
        await ben.locator(".reaction-choice").first.click()
        await fox_page.wait_for("document.querySelectorAll('.reaction').length > 0")
        await expect(ada.locator(".reaction")).to_have_count(1, timeout=5000)
        assert fox.errors == [], fox.errors
        for page in (ada, ben):
            await page.context.close()
