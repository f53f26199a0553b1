"""Real Chromium (Debian's) driven by Playwright, with fake camera and microphone."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser

if not os.path.exists(CHROMIUM):
    pytest.skip("Debian chromium is not installed (make test installs it)", allow_module_level=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        await launched.close()


PageFactory = Callable[..., Awaitable[Page]]


@pytest.fixture
async def new_page(browser: Browser, server) -> AsyncIterator[PageFactory]:  # type: ignore[no-untyped-def]
    """A page in a fresh browser context (its own cookies, like another person's browser).

    Every request the page makes is recorded on ``page.requests`` so a test can check that
    nothing leaves our own origin; console errors go to ``page.errors``."""
    contexts: list[BrowserContext] = []

    async def make(
        locale: str = "en-US", width: int = 1280, height: int = 800, hd: bool = False
    ) -> Page:
        context = await browser.new_context(
            locale=locale,
            viewport={"width": width, "height": height},
            permissions=["camera", "microphone", "clipboard-read", "clipboard-write"],
        )
        contexts.append(context)
        if not hd:
            # Standard quality (640x360): three browsers encoding 720p simulcast would
            # saturate this 2-core machine and every timing would measure the encoders.
            await context.add_init_script("localStorage.setItem('mosaic.videoQuality', 'standard')")
        page = await context.new_page()
        page.requests = []  # type: ignore[attr-defined]
        page.errors = []  # type: ignore[attr-defined]
        page.on("request", lambda request: page.requests.append(request.url))  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
        page.on(
            "console",
            lambda message: (
                page.errors.append(message.text)  # type: ignore[attr-defined]
                if message.type == "error"
                else None
            ),
        )
        return page

    yield make
    for context in contexts:
        await context.close()


def foreign_requests(page: Page, base_url: str) -> list[str]:
    own = (base_url, base_url.replace("http://", "ws://"), "data:", "blob:")
    return [url for url in page.requests if not url.startswith(own)]  # type: ignore[attr-defined]


def screenshot_path(artifacts: Path, name: str) -> str:
    return str(artifacts / f"{name}.png")
