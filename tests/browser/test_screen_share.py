"""A screen shared from one page is shown large on the others, with the sharer's name."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import signup
from tests.helpers.waiting import wait_until

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"


async def test_screen_share_is_shown_large_and_can_be_stopped_from_the_browser(
    server, new_page: PageFactory, artifacts
) -> None:
    account = await signup(server.url, name="Presenter")
    meeting = await account.create_meeting(waiting_room=False)
    presenter = await new_page()
    await presenter.add_init_script(NO_CAMERA)
    await presenter.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(presenter, meeting["join_url"], "Presenter")
    viewer = await new_page()
    await viewer.add_init_script(NO_CAMERA)
    await enter(viewer, meeting["join_url"], "Viewer")
    # Participants may not share by default: no button for them.
    await expect(viewer.locator("#share")).to_be_hidden()

    await presenter.click("#share")
    await expect(presenter.locator("#share")).to_have_attribute("aria-pressed", "true")
    screen = viewer.locator("#featured .tile.screen")
    await expect(screen).to_be_visible()
    await expect(screen.locator(".tile-name")).to_have_text("Presenter's screen")
    await wait_until(
        lambda: viewer.evaluate(
            "() => document.querySelector('#featured .tile.screen video').videoWidth"
        ),
        timeout=30,
    )
    featured = await screen.bounding_box()
    strip = await viewer.locator("#gallery .tile").first.bounding_box()
    assert featured and strip and featured["width"] > 2 * strip["width"]
    await viewer.screenshot(path=str(artifacts / "screen-share.png"))

    # The browser's own "Stop sharing" ends the track: the share ends for everyone.
    await presenter.evaluate(
        "() => window.mosaicRoom.screenStream.getVideoTracks()[0].dispatchEvent(new Event('ended'))"
    )
    await expect(screen).to_have_count(0)
    await expect(presenter.locator("#share")).to_have_attribute("aria-pressed", "false")
