"""The core of a meeting with the keyboard alone, in Firefox ESR (driven over WebDriver BiDi).

tests/browser/test_keyboard.py walks a whole meeting in Chromium; Firefox moves focus, presses
buttons on Enter, closes a modal ``<dialog>`` on Escape and reports ``event.code`` with Alt held
its own way, so the same walk is repeated here. Every action is a trusted key event from
``input.performActions`` (no clicks, no values set by script); scripts only read the page's
state. A host (mosaic.client, in the same network namespace) checks that what the keys did
reached the meeting: the microphone, the chat message, the raised hand, the departure.
"""

from __future__ import annotations

import json
from typing import Any

from mosaic.client import Participant, join
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox, Page
from tests.helpers.firefox_lab import FIREFOX_LAB, LOOPBACK
from tests.helpers.server import MosaicServer

pytestmark = FIREFOX_LAB
FOCUSED = "document.activeElement ? document.activeElement.id : null"


def focused_is(selector: str) -> str:
    return f"!!document.activeElement && document.activeElement.matches({json.dumps(selector)})"


def announced(text: str) -> str:
    return f"document.getElementById('announcer').textContent.includes({json.dumps(text)})"


def attribute_is(element: str, name: str, value: str) -> str:
    return (
        f"document.getElementById({json.dumps(element)})"
        f".getAttribute({json.dumps(name)}) === {json.dumps(value)}"
    )


async def tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until the element matching ``selector`` has focus."""
    for _ in range(limit):
        if await page.evaluate(focused_is(selector)):
            return
        await page.press("Tab")
    raise AssertionError(
        f"{selector} not reachable with Tab (focus on {await page.evaluate(FOCUSED)})"
    )


async def test_a_meeting_with_the_keyboard_alone_in_firefox(
    lab_server: MosaicServer,
    fox: Firefox,
) -> None:
    account = await signup(lab_server.url, name="Hostess")
    meeting = await account.create_meeting(waiting_room=False)
    host: Participant = await join(
        meeting["join_url"], name="Hostess", cookies=account.cookies, local_addresses=LOOPBACK
    )
    # A window of its own: the one Firefox starts with never has the focus here, and Gecko
    # presses a focused button on Enter only when its window has the focus (a person's does).
    page = await fox.new_page()
    await page.store(meeting["join_url"], {"mosaic.camOn": "false", "mosaic.micOn": "false"})
    try:
        # Pre-join: Tab to the name, type it, Enter joins.
        await page.goto(meeting["join_url"])
        assert await page.evaluate("document.hasFocus()")
        await page.wait_for("!document.querySelector('#join').hasAttribute('aria-disabled')")
        await tab_to(page, "#name")
        await page.type("Kay")
        await page.press("Enter")
        await page.wait_for("!document.getElementById('room').hidden")
        await host.wait_until(lambda: any(p["name"] == "Kay" for p in host.participants.values()))
        kay = next(p["id"] for p in host.participants.values() if p["name"] == "Kay")

        # Alt+A turns the microphone on and off, and says so (focus does not move).
        await page.press("Alt+a")
        await page.wait_for(attribute_is("mic", "aria-pressed", "true"), timeout=10)
        await page.wait_for(announced("Microphone on."), timeout=5)
        await host.wait_until(lambda: bool(host.participants[kay].get("audio")), timeout=10)
        await page.press("Alt+a")
        await page.wait_for(attribute_is("mic", "aria-pressed", "false"), timeout=10)
        await page.wait_for(announced("Microphone off."), timeout=5)

        # The reaction picker: Enter on its button moves focus in, arrows move within it,
        # Escape closes it and gives focus back to the button.
        await tab_to(page, "#react")
        await page.press("Enter")
        await page.wait_for("!document.getElementById('reaction-picker').hidden", timeout=5)
        assert await page.evaluate(attribute_is("react", "aria-expanded", "true"))
        choices = "[...document.querySelectorAll('#reaction-picker .reaction-choice')]"
        position = f"{choices}.indexOf(document.activeElement)"
        count = await page.evaluate(f"{choices}.length")
        assert await page.evaluate(position) == 0
        await page.press("ArrowRight")
        assert await page.evaluate(position) == 1
        await page.press("ArrowLeft")
        await page.press("ArrowLeft")
        assert await page.evaluate(position) == count - 1  # wraps round
        await page.press("Home")
        assert await page.evaluate(position) == 0
        await page.press("Escape")
        await page.wait_for("document.getElementById('reaction-picker').hidden", timeout=5)
        assert await page.evaluate(FOCUSED) == "react"
        assert await page.evaluate(attribute_is("react", "aria-expanded", "false"))

        # "?" opens the shortcuts dialog with focus inside; Escape closes it, focus comes back.
        await page.press("?")
        await page.wait_for("document.getElementById('help-dialog').open", timeout=5)
        assert await page.evaluate(
            "document.getElementById('help-dialog').contains(document.activeElement)"
        )
        await page.press("Escape")
        await page.wait_for("!document.getElementById('help-dialog').open", timeout=5)
        assert await page.evaluate(FOCUSED) == "react"

        # Alt+H opens the chat with focus in the message box; typing and Enter send.
        chats: list[dict[str, Any]] = []
        host.on("chat", chats.append)
        await page.press("Alt+h")
        await page.wait_for("!document.getElementById('chat-panel').hidden", timeout=5)
        assert await page.evaluate(FOCUSED) == "chat-text"
        await page.type("Hello from Firefox")
        await page.press("Enter")
        await host.wait_until(lambda: any(c["text"] == "Hello from Firefox" for c in chats))
        await page.wait_for(
            "document.getElementById('chat-log').textContent.includes('Hello from Firefox')"
        )

        # Alt+Y raises the hand: the button, the live region and the host all know.
        await page.press("Alt+y")
        await page.wait_for(attribute_is("hand", "aria-pressed", "true"), timeout=10)
        await page.wait_for(announced("Your hand is raised."), timeout=5)
        await host.wait_until(lambda: bool(host.participants[kay].get("hand")), timeout=10)

        # Leave: Tab to Leave, Enter; the meeting is over for Kay and the host sees it.
        await tab_to(page, "#leave")
        await page.press("Enter")
        await page.wait_for("!document.getElementById('ended').hidden", timeout=10)
        await host.wait_until(lambda: kay not in host.participants, timeout=10)
        assert fox.errors == [], fox.errors
    finally:
        await host.leave()
