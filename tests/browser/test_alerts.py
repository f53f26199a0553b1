"""The host hears of attacks on their meeting, in their language: someone guessing the
passcode, guests pouring in."""

from __future__ import annotations

import asyncio
import json

import websockets
from playwright.async_api import Browser, expect

from mosaic.signaling.protocol import SUBPROTOCOL
from tests.browser.meeting import enter
from tests.helpers.api import signup

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"


async def join_from(ws_url: str, address: str, meeting: str, passcode: str, name: str) -> None:
    """One join attempt from ``address`` (the server believes X-Forwarded-For from 127.0.0.1)."""
    async with websockets.connect(
        ws_url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers={"X-Forwarded-For": address},
    ) as sock:
        frame = {"id": 1, "type": "join", "meeting": meeting, "name": name, "passcode": passcode}
        await sock.send(json.dumps(frame))
        while json.loads(await sock.recv()).get("id") != 1:
            pass


async def test_a_french_host_is_told_of_passcode_guessing_and_of_a_join_flood(
    browser: Browser,
    make_server,  # type: ignore[no-untyped-def]
) -> None:
    server = make_server("--trusted-proxies", "127.0.0.1", "--join-flood-windows", "60:3")
    account = await signup(server.url, name="Hôte")
    meeting = await account.create_meeting(waiting_room=False)
    context = await browser.new_context(
        locale="fr-FR",
        permissions=["camera", "microphone"],
        viewport={"width": 1280, "height": 800},
    )
    try:
        await context.add_cookies(
            [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
        )
        page = await context.new_page()
        await page.add_init_script(NO_CAMERA)
        await enter(page, meeting["join_url"], "Hôte")
        ws_url = server.url.replace("http://", "ws://") + "/ws"

        # A botnet guessing the passcode, one guess per address.
        await asyncio.gather(
            *(
                join_from(ws_url, f"192.0.2.{i}", meeting["id"], "mauvais", "Robot")
                for i in range(1, 61)
            )
        )
        toast = page.locator("#toasts .toast", has_text="essaie de deviner le code")
        await expect(toast).to_be_visible(timeout=10000)
        await expect(toast).to_contain_text("tentatives erronées")

        # Three guests within a minute trip the (scaled-down) flood window.
        for i in range(3):
            await join_from(ws_url, f"203.0.113.{i}", meeting["id"], meeting["passcode"], "Invité")
        flood = page.locator("#toasts .toast", has_text="la salle d'attente est activée")
        await expect(flood).to_be_visible(timeout=10000)
        await expect(flood).to_contain_text("3 en 60 s")
    finally:
        await context.close()
        await account.client.aclose()


async def test_a_page_beyond_its_address_socket_cap_says_why(
    browser: Browser,
    make_server,  # type: ignore[no-untyped-def]
) -> None:
    server = make_server("--websockets-per-address", "2", "--join-deadline-s", "60")
    account = await signup(server.url)
    meeting = await account.create_meeting()
    ws_url = server.url.replace("http://", "ws://") + "/ws"
    held = [
        await websockets.connect(ws_url, subprotocols=[SUBPROTOCOL])  # type: ignore[list-item]
        for _ in range(2)
    ]
    context = await browser.new_context(locale="en-US", permissions=["camera", "microphone"])
    try:
        page = await context.new_page()
        await page.add_init_script(NO_CAMERA)
        await page.goto(meeting["join_url"])
        await page.fill("#name", "Third tab")
        await page.click("#join")
        await expect(page.locator("#join-form .form-error")).to_contain_text(
            "Too many connections from your network"
        )
    finally:
        await context.close()
        for sock in held:
            await sock.close()
        await account.client.aclose()
