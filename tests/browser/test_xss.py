"""Hostile names, chat and topics are shown as text: markup from a participant never becomes
part of another person's page."""

from __future__ import annotations

from playwright.async_api import expect

from mosaic.client import join
from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import Account

NAME = '<img src=x onerror="window.pwned=1">Eve'
CHAT = '<b id="bold">hi</b><script>window.pwned=2</script><svg onload="window.pwned=3">'
TOPIC = '<iframe src="/"></iframe><a href="javascript:window.pwned=4">Class</a>'


async def test_markup_in_names_chat_and_topic_is_shown_as_text(
    server, host: Account, new_page: PageFactory
) -> None:
    meeting = await host.create_meeting(TOPIC, waiting_room=False)
    page = await new_page()
    await page.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in host.cookies.items()]
    )
    await enter(page, meeting["join_url"], "Host")

    async with await join(
        meeting["join_url"], name=NAME, decode=False, local_addresses=["127.0.0.1"]
    ) as eve:
        await page.click("#people")
        await expect(page.locator("#people-list")).to_contain_text(NAME)
        await eve.request("chat", text=CHAT)
        await page.click("#chat")
        await expect(page.locator("#chat-log")).to_contain_text(CHAT)
        await expect(page.locator("#topic")).to_have_text(TOPIC)

        injected = await page.evaluate(
            """() => ({
                pwned: window.pwned ?? null,
                elements: document.querySelectorAll(
                    '#people-list img, #people-list script, #chat-log b, #chat-log script,'
                    + ' #chat-log svg, #topic iframe, #topic a, #stage img').length,
            })"""
        )
    assert injected == {"pwned": None, "elements": 0}
