"""A host creates a meeting in the browser, a guest joins by the link, both see each other."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.browser.conftest import PageFactory, foreign_requests, screenshot_path


async def test_host_creates_meeting_and_guest_joins_through_the_link(
    server, new_page: PageFactory, artifacts
) -> None:
    host = await new_page()
    await host.goto(server.url)
    await host.fill("#signup-name", "Grace Hopper")
    await host.fill("#signup-email", "grace@example.org")
    await host.fill("#signup-password", "a very long password")
    await host.click("#signup-form button[type=submit]")
    await expect(host.locator("#dashboard")).to_be_visible()

    await host.fill("#topic", "Compiler club")
    await host.click("#new-meeting")
    await expect(host.locator("#created")).to_be_visible()
    link = await host.locator("#created-link").get_attribute("href")
    passcode = await host.locator("#created-passcode").text_content()
    assert link and re.search(r"/m/[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}#pwd=", link)
    assert passcode and link.endswith(passcode)
    await host.screenshot(path=screenshot_path(artifacts, "dashboard-created"))

    await host.click("#start-meeting")
    await expect(host.locator("#prejoin")).to_be_visible()
    await expect(host.locator("#name")).to_have_value("Grace Hopper")
    await host.click("#join")
    await expect(host.locator("#room")).to_be_visible()
    await expect(host.locator("#topic")).to_have_text("Compiler club")

    guest = await new_page()
    await guest.goto(link)
    await expect(guest.locator("#prejoin")).to_be_visible()
    await expect(guest.locator("#passcode")).to_have_value(passcode)
    assert "#pwd" not in guest.url  # taken out of the address bar
    await expect(guest.locator("#camera-select option")).not_to_have_count(0)
    await guest.fill("#name", "Alan")
    await guest.screenshot(path=screenshot_path(artifacts, "prejoin"))
    await guest.click("#join")
    await expect(guest.locator("#waiting")).to_be_visible()

    # The host hears someone knock, opens the participants panel and admits them.
    await expect(host.locator("#waiting-badge")).to_have_text("1")
    await host.click("#people")
    await host.locator("#waiting-list .admit").click()

    await expect(guest.locator("#room")).to_be_visible()
    await guest.click("#people")
    for page in (host, guest):
        names = page.locator("#people-list .person-name")
        await expect(names).to_have_count(2)
        await expect(page.locator("#people-list")).to_contain_text("Grace Hopper")
        await expect(page.locator("#people-list")).to_contain_text("Alan")
    await host.screenshot(path=screenshot_path(artifacts, "room-two-people"))

    # Leaving removes the guest from the host's list.
    await guest.click("#leave")
    await expect(guest.locator("#ended")).to_be_visible()
    await expect(host.locator("#people-list .person-name")).to_have_count(1, timeout=2000)

    for page in (host, guest):
        assert foreign_requests(page, server.url) == []
        assert page.errors == []  # type: ignore[attr-defined]
