"""A participant's breakout bar in Firefox ESR (driven over WebDriver BiDi): the room's name and
the countdown shown, axe clean, Ask for help pressed with a trusted Enter reaches the host, and
closing the rooms brings the participant back to the main room, as it is said.

Chromium walks the whole breakout scenario (tests/browser/test_breakouts.py); Firefox lays out
and exposes the bar its own way, so the participant's side is checked here again. The host is a
Python participant (mosaic.client) in the same network namespace.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mosaic.client import join
from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox
from tests.helpers.firefox_lab import FIREFOX_LAB, LOOPBACK, firefox_enters
from tests.helpers.server import MosaicServer

pytestmark = FIREFOX_LAB


def text_is(element: str, text: str) -> str:
    return f"document.getElementById({json.dumps(element)}).textContent === {json.dumps(text)}"


async def test_a_participant_in_firefox_sees_the_room_and_asks_for_help(
    lab_server: MosaicServer, fox: Firefox
) -> None:
    account = await signup(lab_server.url, name="Teacher")
    meeting = await account.create_meeting(topic="Class", waiting_room=False)
    host = await join(
        meeting["join_url"],
        name="Teacher",
        cookies=account.cookies,
        decode=False,
        local_addresses=LOOPBACK,
    )
    helped: list[dict[str, Any]] = []
    host.on("help_requested", helped.append)
    try:
        page = await fox.new_page()
        await firefox_enters(page, meeting["join_url"], "Fiona", **{"mosaic.camOn": "false"})
        await host.wait_until(lambda: any(p["name"] == "Fiona" for p in host.participants.values()))
        fiona = next(p["id"] for p in host.participants.values() if p["name"] == "Fiona")
        await host.request("breakouts.create", rooms=[{"name": "Readers"}, {"name": "Writers"}])
        await host.request("breakouts.assign", assignments={fiona: "b1"})
        await host.request("breakouts.open", seconds=120, allow_return=False)
        await page.wait_for("!document.getElementById('breakout-bar').hidden")
        await page.wait_for(text_is("bo-where", "You are in Readers"))
        countdown = await page.evaluate("document.getElementById('bo-countdown').textContent")
        assert re.fullmatch(r"Closes in [12]:\d\d", countdown), countdown
        # No way back to the main room: the host did not allow it; no warning yet.
        assert await page.evaluate("document.getElementById('bo-return').hidden")
        assert await page.evaluate("document.getElementById('bo-warning').hidden")
        # axe through BiDi, as the page's own scripts are not: its CSP stays as served.
        await page.firefox.command(
            "script.evaluate",
            {
                "expression": axe_source(),
                "target": {"context": page.context},
                "awaitPromise": False,
            },
        )
        bad = unacceptable(await page.evaluate(f"({RUN})()"))
        assert not bad, describe("firefox breakout bar", bad)
        # Ask for help with the keyboard: a trusted Enter on the focused button.
        await page.evaluate("(document.getElementById('bo-help').focus(), true)")
        await page.press("Enter")
        await host.wait_until(lambda: len(helped) == 1)
        assert helped[0]["participant_id"] == fiona and helped[0]["room_id"] == "b1"
        await page.wait_for(
            "document.getElementById('toasts').textContent.includes('The host has been asked')"
        )
        await host.request("breakouts.close")
        await page.wait_for("document.getElementById('breakout-bar').hidden")
        await page.wait_for(
            "document.getElementById('announcer').textContent"
            ".includes('You are back in the main room.')"
        )
        # Focus was on Ask for help, which went away with the bar: it is not left on <body>.
        assert await page.evaluate("document.activeElement !== document.body")
    finally:
        await host.leave()
        await account.client.aclose()
