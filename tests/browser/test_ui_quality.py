"""French from the browser's language, accessible controls, a usable 360-pixel screen, and
names that cannot inject markup."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import signup

I18N = Path(__file__).resolve().parents[2] / "mosaic" / "web" / "i18n"
NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
VISIBLE_TEXT = """() => {
    const texts = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const element = node.parentElement;
        if (!element || !node.textContent.trim()) continue;
        if (element.closest('[hidden]') || element.closest('script, style, option')) continue;
        texts.push(node.textContent.trim());
    }
    for (const element of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
        if (element.closest('[hidden]')) continue;
        for (const name of ['aria-label', 'title', 'placeholder']) {
            const value = element.getAttribute(name);
            if (value) texts.push(value);
        }
    }
    return texts;
}"""


def english_only_strings() -> set[str]:
    english = json.loads((I18N / "en.json").read_text())
    french = json.loads((I18N / "fr.json").read_text())
    return {
        value
        for key, value in english.items()
        if french[key] != value and re.search(r"[A-Za-z]{3}", value) and "{" not in value
    }


async def assert_no_english(page: Page) -> None:
    shown = set(await page.evaluate(VISIBLE_TEXT))
    assert not shown & english_only_strings(), shown & english_only_strings()
    assert not [text for text in shown if "⟦" in text]  # no missing key either


async def test_the_french_ui_shows_no_english(server, new_page: PageFactory, artifacts) -> None:
    page = await new_page(locale="fr-FR")
    await page.goto(server.url)
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("#signup-form h2")).to_have_text("Créer un compte")
    await assert_no_english(page)
    host = await signup(server.url, name="Hôte")
    meeting = await host.create_meeting(waiting_room=False)
    await page.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in host.cookies.items()]
    )
    await page.goto(meeting["join_url"])
    await expect(page.locator("#join")).to_have_text("Participer")
    await assert_no_english(page)
    await page.click("#join")
    await expect(page.locator("#room")).to_be_visible()
    for panel in ("people", "chat", "security"):
        await page.click(f"#{panel}")
        await assert_no_english(page)
    await page.screenshot(path=str(artifacts / "room-french.png"))


async def test_switching_language_in_the_room(server, new_page: PageFactory) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    page = await new_page()
    await page.add_init_script(NO_CAMERA)
    await enter(page, meeting["join_url"], "Ann")
    await expect(page.locator("#leave")).to_have_text("Leave")
    await page.select_option("#room-language", "fr")
    await expect(page.locator("#leave")).to_have_text("Quitter")
    await assert_no_english(page)


async def test_every_control_has_a_name_and_the_room_fits_360_pixels(
    server, new_page: PageFactory, artifacts
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    page = await new_page(width=360, height=640)
    await page.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in host.cookies.items()]
    )
    await enter(page, meeting["join_url"], "Phone")
    unnamed = await page.evaluate(
        """() => [...document.querySelectorAll('button, select, input, textarea, summary')]
            .filter((e) => !e.closest('[hidden]') && e.offsetParent !== null)
            .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim()
                || (e.id && document.querySelector(`label[for="${e.id}"]`))))
            .map((e) => e.id || e.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    overflow = await page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360
    for control in ("#mic", "#cam", "#leave", "#chat", "#people"):
        box = await page.locator(control).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 360, control
    # Focus is visible when moving with the keyboard.
    await page.keyboard.press("Tab")
    outline = await page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return s.boxShadow + s.outlineStyle; })()"
    )
    assert outline != "nonenone"
    await page.click("#chat")
    await expect(page.locator("#chat-panel")).to_be_visible()
    await page.screenshot(path=str(artifacts / "room-360px-chat.png"))


async def test_names_with_markup_are_shown_as_text(server, new_page: PageFactory) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    watcher = await new_page()
    await watcher.add_init_script(NO_CAMERA)
    await enter(watcher, meeting["join_url"], "Watcher")
    attacker = await new_page()
    await attacker.add_init_script(NO_CAMERA)
    name = "<img src=x onerror=alert(1)>"
    await enter(attacker, meeting["join_url"], name)
    dialogs: list[str] = []
    watcher.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await expect(watcher.locator("#gallery .tile-name", has_text=name)).to_have_count(1)
    await watcher.click("#people")
    await expect(watcher.locator("#people-list .person-name", has_text=name)).to_have_count(1)
    assert await watcher.locator("#gallery img, #people-list img").count() == 0
    assert dialogs == []
