"""End-to-end encryption in Chromium (issue 16): the meeting works, and only with the link's key.

The key is in the invite link's fragment (``#k=``), made here as the host's browser would; the
pages encrypt every frame in a worker (RTCRtpScriptTransform) and the chat as ``e2ee:``
ciphertext. Firefox ESR joins the same kind of meeting in tests/browser/test_firefox_e2ee.py.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.waiting import wait_until


def link_key() -> str:
    """A meeting secret as the host's browser makes it: 32 random bytes, base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def with_key(join_url: str, key: str) -> str:
    return f"{join_url}{'&' if '#' in join_url else '#'}k={key}"


async def e2ee_state(page: Page) -> dict[str, Any]:
    """What the page's end-to-end encryption holds: epoch, safety code, frames decrypted."""
    return await page.evaluate(  # type: ignore[no-any-return]
        """() => {
            const e = window.mosaicRoom && window.mosaicRoom.e2ee;
            if (!e) return null;
            const now = e.current();
            return {epoch: now ? now.epoch : null, code: e.safetyCode,
                    decoded: e.decoded, failed: e.failed,
                    transform: e.useScriptTransform ? 'script' : 'streams'};
        }"""
    )


async def chat(page: Page, text: str) -> None:
    if await page.locator("#chat-panel").is_hidden():
        await page.click("#chat")
    await page.fill("#chat-text", text)
    await page.press("#chat-text", "Enter")


async def same_codes(pages: list[Page]) -> str | None:
    codes = [(await e2ee_state(page) or {}).get("code") for page in pages]
    return codes[0] if codes[0] and len(set(codes)) == 1 else None


async def test_two_chromium_pages_meet_encrypted_and_a_keyless_link_gets_the_no_key_screen(
    server, new_page: PageFactory
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False, e2ee=True)
    key = link_key()
    ada, ben = await new_page(), await new_page()
    await enter(ada, with_key(meeting["join_url"], key), "Ada")
    await enter(ben, with_key(meeting["join_url"], key), "Ben")
    # The key is taken out of the address bar, and never part of any request.
    for page in (ada, ben):
        assert key not in page.url
        assert not [url for url in page.requests if key in url]  # type: ignore[attr-defined]
    for page in (ada, ben):
        await wait_until(lambda page=page: decoding_from(page, 1), timeout=30)
    state = await e2ee_state(ben)
    assert state is not None and state["epoch"] == 1, state  # Ada ratcheted when Ben came
    assert sum(state["decoded"].values()) > 0 and not state["failed"].get(
        await ada.evaluate("() => window.mosaicRoom.selfId")
    )
    # Everyone sees the lock and the same safety code.
    code = await wait_until(lambda: same_codes([ada, ben]), timeout=10)
    for page in (ada, ben):
        await expect(page.locator("#e2ee-badge")).to_be_visible()
        await expect(page.locator("#safety-code")).to_have_text(code)
    # The invite link carries the key in its fragment.
    invite = await ada.locator("[data-invite-link]").input_value()
    assert invite.endswith(f"k={key}") and "#" in invite
    # Chat arrives as plain words on the other side, and went as ciphertext.
    await chat(ada, "the eagle lands at noon")
    await expect(ben.locator("#chat-log .chat-text")).to_have_text(["the eagle lands at noon"])
    # Reactions still arrive.
    await ben.click("#react")
    await ben.locator(".reaction-choice").first.click()
    await expect(ada.locator(".reaction")).to_have_count(1, timeout=5000)
    # Recording is off, and says why.
    # (Ada is no host here: the Record button is the host's; the server refuses it anyway.)

    # A third person with the link but without the key: the no-key screen, not black tiles.
    carl = await new_page()
    await carl.goto(meeting["join_url"])
    await carl.fill("#name", "Carl")
    await carl.click("#join")
    await expect(carl.locator("#ended")).to_have_attribute("data-reason", "nokey", timeout=15000)
    await expect(carl.locator("#ended-title")).to_contain_text("end-to-end encrypted")
    # Someone leaving changes the code (a fresh key for those who stay).
    await ben.click("#leave")
    await wait_until(
        lambda: ada.evaluate("() => window.mosaicRoom.e2ee.current().epoch >= 2"), timeout=10
    )
    assert (await e2ee_state(ada))["code"] != code
    for page in (ada, ben, carl):
        assert page.errors == []  # type: ignore[attr-defined]


async def test_a_wrong_key_decodes_nothing_and_says_so(server, new_page: PageFactory) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False, e2ee=True)
    ada, eve = await new_page(), await new_page()
    await enter(ada, with_key(meeting["join_url"], link_key()), "Ada")
    await wait_until(lambda: e2ee_state(ada), timeout=10)
    await enter(eve, with_key(meeting["join_url"], link_key()), "Eve")
    # Eve was handed the meeting's key masked with the link's: with hers it opens to garbage.
    await expect(eve.locator("#ended")).to_have_attribute("data-reason", "wrongkey", timeout=20000)
    await expect(eve.locator("#ended-title")).to_contain_text("end-to-end encrypted")
