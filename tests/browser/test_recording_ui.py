"""Recording from the meeting page: the host's Record button, the indicator everyone sees,
the notice (stay or leave) for whoever enters while it runs, and the Recordings page that
lists what the recorder wrote, with its size, its duration, a download and a deletion."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.browser.meeting import enter
from tests.helpers.api import Account, signup

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
Open = Callable[..., Awaitable[Page]]


async def axe_problems(page: Page, state: str) -> list[str]:
    """Serious axe findings (and unjustified lesser ones) on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    bad = unacceptable(await page.evaluate(RUN))
    return [describe(state, bad)] if bad else []


@pytest.fixture
async def pages(browser: Browser) -> AsyncIterator[Open]:
    contexts: list[BrowserContext] = []

    async def open_page(
        url: str, cookies: dict[str, str] | None = None, camera: bool = True
    ) -> Page:
        context = await browser.new_context(
            permissions=["camera", "microphone"], viewport={"width": 1280, "height": 800}
        )
        contexts.append(context)
        await context.add_init_script(
            "localStorage.setItem('mosaic.videoQuality', 'standard')"
            + ("" if camera else ";" + NO_CAMERA)
        )
        if cookies:
            await context.add_cookies(
                [{"name": k, "value": v, "url": url} for k, v in cookies.items()]
            )
        page = await context.new_page()
        page.errors = []  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
        return page

    yield open_page
    for context in contexts:
        await context.close()


async def test_recording_from_the_page_shows_everyone_and_lands_on_the_recordings_page(
    make_server: Any, pages: Open
) -> None:
    server = make_server()
    host: Account = await signup(server.url, name="Teacher")
    try:
        meeting = await host.create_meeting(waiting_room=False)
        boss = await pages(server.url, host.cookies)
        await enter(boss, meeting["join_url"], "Teacher")
        early = await pages(server.url, camera=False)
        await enter(early, meeting["join_url"], "Early")
        # Nobody but those allowed sees a Record button; nothing is recorded yet.
        await expect(early.locator("#record")).to_be_hidden()
        await expect(early.locator("#rec-badge")).to_be_hidden()
        record = boss.locator("#record")
        await expect(record).to_be_visible()
        await expect(record).to_have_attribute("aria-label", "Start recording")

        await record.click()
        await expect(record).to_have_attribute("aria-pressed", "true")
        await expect(boss.locator("#rec-badge")).to_be_visible()
        await expect(early.locator("#rec-badge")).to_be_visible()  # already in: the indicator
        started = early.locator("#toasts .toast", has_text="This meeting is now being recorded.")
        await expect(started).to_be_visible()

        # Someone entering now is asked first, and stays.
        late = await pages(server.url, camera=False)
        await enter(late, meeting["join_url"], "Late")
        notice = late.locator("#recording-notice")
        await expect(notice).to_be_visible()
        await expect(notice).to_contain_text("This meeting is being recorded")
        problems = await axe_problems(late, "recording-notice")
        problems += await axe_problems(boss, "room-recording")
        await late.click("#recording-stay")
        await expect(notice).to_be_hidden()
        await expect(late.locator("#rec-badge")).to_be_visible()
        # Someone else leaves instead: gone from the meeting, never in the host's gallery.
        shy = await pages(server.url, camera=False)
        await enter(shy, meeting["join_url"], "Shy")
        await shy.click("#recording-leave")
        await expect(shy.locator("#room")).to_be_hidden()
        await expect(boss.locator("#people-count")).to_have_text("3", timeout=10000)

        await boss.wait_for_timeout(3000)  # the host's camera, recorded for a few seconds
        await record.click()
        await expect(record).to_have_attribute("aria-pressed", "false")
        await expect(late.locator("#rec-badge")).to_be_hidden()
        await expect(early.locator("#rec-badge")).to_be_hidden()

        # The Recordings page lists it, with a size and a duration; it downloads.
        # The host's meeting list leads to it.
        listing = await pages(server.url, host.cookies)
        await listing.goto(server.url)
        item = listing.locator(f'.meeting-item[data-meeting-id="{meeting["id"]}"]')
        await item.get_by_role("link", name="Recordings").click()
        await expect(listing).to_have_url(f"{server.url}/recordings?meeting={meeting['id']}")
        rows = listing.locator("#recordings-list tr")
        await expect(rows).to_have_count(1)
        cells = rows.first.locator("td")
        await expect(cells.nth(1)).to_have_text(re.compile(r"^0:\d\d$"), timeout=5000)
        await expect(cells.nth(2)).to_contain_text("B")
        problems += await axe_problems(listing, "recordings-page")
        assert problems == [], "\n".join(problems)
        href = await rows.first.locator("a").get_attribute("href")
        assert href is not None
        download = await listing.request.get(server.url + href)
        assert download.status == 200
        names = zipfile.ZipFile(io.BytesIO(await download.body())).namelist()
        assert "manifest.json" in names and any(n.endswith(".webm") for n in names), names
        listing.on("dialog", lambda dialog: dialog.accept())
        await rows.first.locator("button").click()
        await expect(rows).to_have_count(0)
        await expect(listing.locator("#recordings-status")).to_have_text("Recording deleted.")
        assert not list((server.data_dir / "recordings").iterdir())
        for page in (boss, early, late, listing):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        await host.client.aclose()
