"""WCAG 2.2 AA by axe-core on every page and state, in English and French, and menus and
panels that a keyboard drives as the ARIA Authoring Practices describe.

One meeting per language is walked through every state (signed out, e-mail check, error page,
meeting list, pre-join, room, each panel, menu and dialog open, waiting room, ended) so the whole
audit stays in seconds; a screenshot of each state is kept under test-artifacts/
(a11y-<lang>-<state>.png).
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.browser.conftest import PageFactory, screenshot_path
from tests.browser.meeting import enter
from tests.helpers.api import signup

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
DEVICES_READY = "() => document.querySelector('#mic-select').options.length > 0"
FOCUSED_ID = "document.activeElement ? document.activeElement.id : null"


async def focused(page: Page) -> str | None:
    return await page.evaluate(FOCUSED_ID)


@pytest.mark.parametrize("locale", ["en-US", "fr-FR"])
async def test_every_page_and_state_has_no_serious_axe_violation(
    server, new_page: PageFactory, artifacts, locale: str
) -> None:  # type: ignore[no-untyped-def]
    language = locale[:2]
    source = axe_source()
    problems: list[str] = []
    audited: list[str] = []

    async def audit(page: Page, state: str) -> None:
        if not await page.evaluate("typeof window.axe !== 'undefined'"):
            await page.evaluate(source)
        violations = await page.evaluate(RUN)
        await page.screenshot(path=screenshot_path(artifacts, f"a11y-{language}-{state}"))
        audited.append(state)
        bad = unacceptable(violations)
        if bad:
            problems.append(describe(state, bad))

    account = await signup(server.url, name="Host")
    meeting = await account.create_meeting(topic="Lesson", waiting_room=True)
    host = await new_page(locale=locale)
    await host.add_init_script(NO_CAMERA)
    await host.goto(server.url)
    await expect(host.locator("#welcome")).to_be_visible()
    await audit(host, "home-signed-out")
    await host.goto(f"{server.url}/verify")
    await expect(host.locator("#verify-button")).not_to_be_empty()
    await audit(host, "verify-email")
    await host.goto(f"{server.url}/m/kq7w-m3xe")  # a wrong link: the styled error page
    await expect(host.locator("h1")).not_to_be_empty()
    await audit(host, "error-page")
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await host.goto(server.url)
    await expect(host.locator("#meetings li").first).to_be_visible()
    await audit(host, "meeting-list")
    await host.goto(meeting["join_url"])
    await host.wait_for_function(DEVICES_READY)
    await audit(host, "prejoin")
    await host.fill("#name", "Host")
    await host.click("#join")
    await expect(host.locator("#room")).to_be_visible(timeout=15000)
    await audit(host, "room")
    for panel in ("people", "chat", "security"):
        await host.click(f"#{panel}")
        await expect(host.locator(f"#{panel}-panel")).to_be_visible()
        await audit(host, f"room-{panel}-panel")
        await host.click(f"#{panel}")
    await host.click("#react")
    await expect(host.locator("#reaction-picker")).to_be_visible()
    await audit(host, "reactions-menu")
    await host.click("#react")
    await host.keyboard.press("?")
    await expect(host.locator("#help-dialog")).to_be_visible()
    await audit(host, "shortcuts-dialog")
    await host.keyboard.press("Escape")
    await expect(host.locator("#help-dialog")).to_be_hidden()
    guest = await new_page(locale=locale)
    await guest.add_init_script(NO_CAMERA)
    await guest.goto(meeting["join_url"])
    await guest.wait_for_function(DEVICES_READY)
    await guest.fill("#name", "Guest")
    await guest.click("#join")
    await expect(guest.locator("#waiting")).to_be_visible()
    await audit(guest, "waiting-room")
    waiting = {"en": "Participants, 1 waiting", "fr": "Participants, 1 en attente"}[language]
    await expect(host.locator("#people")).to_have_attribute("aria-label", re.compile(waiting))
    await host.click("#people")
    await expect(host.locator("#waiting-list .person")).to_have_count(1)
    await audit(host, "people-panel-with-guest-waiting")
    await host.click("#people")
    await host.click("#leave")
    await expect(host.locator("#leave-menu")).to_be_visible()
    await audit(host, "leave-menu")
    await host.click("#end-for-all")
    await expect(guest.locator("#ended")).to_be_visible()
    await audit(guest, "ended")
    assert len(audited) == 15
    assert not problems, "\n".join(problems)


# Devices that start only when the test says so: the pre-join page is caught before it is ready.
SLOW_DEVICES = """{
    const real = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (constraints) => new Promise((resolve, reject) => {
        window.releaseDevices = () => real(constraints).then(resolve, reject);
    });
}"""
IN_PEOPLE_PANEL = "() => !!document.activeElement.closest('#people-panel')"


async def test_menus_and_panels_work_from_the_keyboard_and_focus_never_falls_to_body(
    server, new_page: PageFactory, artifacts
) -> None:  # type: ignore[no-untyped-def]
    account = await signup(server.url, name="Host")
    meeting = await account.create_meeting(waiting_room=True)
    host = await new_page()
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Host")
    react, picker = host.locator("#react"), host.locator("#reaction-picker")
    choices = host.locator(".reaction-choice")
    # The reaction picker: Enter opens it with focus on the first item; arrows, Home and End
    # move (wrapping); Escape closes it and focus is back on its button.
    await react.focus()
    await host.keyboard.press("Enter")
    await expect(picker).to_be_visible()
    await expect(react).to_have_attribute("aria-expanded", "true")
    await expect(choices.first).to_be_focused()
    await host.keyboard.press("ArrowRight")
    await expect(choices.nth(1)).to_be_focused()
    await host.screenshot(path=screenshot_path(artifacts, "a11y-keyboard-reaction-menu"))
    await host.keyboard.press("End")
    await expect(choices.last).to_be_focused()
    await host.keyboard.press("ArrowRight")
    await expect(choices.first).to_be_focused()
    await host.keyboard.press("Escape")
    await expect(picker).to_be_hidden()
    await expect(react).to_have_attribute("aria-expanded", "false")
    await expect(react).to_be_focused()
    # Choosing a reaction sends it and gives focus back to the button.
    await host.keyboard.press("ArrowDown")
    await expect(choices.first).to_be_focused()
    await host.keyboard.press("Enter")
    await expect(host.locator("#stage .reaction")).to_have_count(1)
    await expect(picker).to_be_hidden()
    await expect(react).to_be_focused()
    # One popup at a time: the shortcuts dialog closes the picker; focus comes back to its button.
    await host.keyboard.press("Enter")
    await expect(choices.first).to_be_focused()
    await host.keyboard.press("?")
    await expect(host.locator("#help-dialog")).to_be_visible()
    await expect(picker).to_be_hidden()
    await expect(react).to_have_attribute("aria-expanded", "false")
    await host.keyboard.press("Escape")
    await expect(host.locator("#help-dialog")).to_be_hidden()
    await expect(react).to_be_focused()
    # One popup at a time: the leave menu closes the picker.
    await host.keyboard.press("Enter")
    await expect(picker).to_be_visible()
    leave, leave_menu = host.locator("#leave"), host.locator("#leave-menu")
    await expect(leave).to_have_attribute("aria-expanded", "false")
    await leave.click()
    await expect(leave_menu).to_be_visible()
    await expect(picker).to_be_hidden()
    await expect(react).to_have_attribute("aria-expanded", "false")
    await expect(leave).to_have_attribute("aria-expanded", "true")
    await expect(host.locator("#end-for-all")).to_be_focused()
    await host.keyboard.press("ArrowDown")
    await expect(host.locator("#leave-only")).to_be_focused()
    await host.keyboard.press("ArrowDown")
    await expect(host.locator("#end-for-all")).to_be_focused()
    await host.keyboard.press("Escape")
    await expect(leave_menu).to_be_hidden()
    await expect(leave).to_have_attribute("aria-expanded", "false")
    await expect(leave).to_be_focused()
    # Panels: opening moves focus in; Escape or the close button gives it back to the opener.
    await host.locator("#chat").focus()
    await host.keyboard.press("Enter")
    await expect(host.locator("#chat-text")).to_be_focused()
    await host.keyboard.press("Escape")
    await expect(host.locator("#chat-panel")).to_be_hidden()
    await expect(host.locator("#chat")).to_be_focused()
    await host.locator("#people").focus()
    await host.keyboard.press("Enter")
    await expect(host.locator("#people-panel h2")).to_be_focused()
    await host.screenshot(path=screenshot_path(artifacts, "a11y-keyboard-people-panel"))
    await host.locator('.close-panel[data-panel="people"]').focus()
    await host.keyboard.press("Enter")
    await expect(host.locator("#people-panel")).to_be_hidden()
    await expect(host.locator("#people")).to_be_focused()
    # Enter on the pre-join page before the devices are ready says so, then joins.
    guest = await new_page()
    await guest.add_init_script(SLOW_DEVICES)
    await guest.goto(meeting["join_url"])
    await guest.fill("#name", "Guest")
    await guest.press("#name", "Enter")
    await expect(guest.get_by_role("status")).to_contain_text("camera and microphone")
    await guest.evaluate("() => window.releaseDevices()")
    await expect(guest.locator("#waiting")).to_be_visible()
    await expect(guest.locator("#waiting h1")).to_be_focused()
    # The People button's name counts who waits; admitting keeps focus in the panel.
    await expect(host.locator("#people")).to_have_attribute("aria-label", re.compile("1 waiting"))
    await host.keyboard.press("Enter")
    await host.locator("#waiting-list .admit").focus()
    await host.keyboard.press("Enter")
    await expect(guest.locator("#room")).to_be_visible(timeout=15000)
    await expect(host.locator("#waiting-section")).to_be_hidden()
    await host.wait_for_function(IN_PEOPLE_PANEL)
    await expect(host.locator("#people")).to_have_attribute("aria-label", "Participants")
