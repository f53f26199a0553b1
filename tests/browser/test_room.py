"""The room as people use it: chat, hands, reactions, pins and spotlight, hosts' controls."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import signup

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"


async def people_in(server, new_page: PageFactory, names: list[str], **settings) -> list[Page]:  # type: ignore[no-untyped-def]
    """A host (the first name) and guests, in a meeting without waiting room."""
    host = await signup(server.url, name=names[0])
    meeting = await host.create_meeting(waiting_room=False, **settings)
    pages = []
    for index, name in enumerate(names):
        page = await new_page()
        await page.add_init_script(NO_CAMERA)
        if index == 0:
            await page.context.add_cookies(
                [{"name": k, "value": v, "url": server.url} for k, v in host.cookies.items()]
            )
        await enter(page, meeting["join_url"], name)
        pages.append(page)
    for page in pages:
        await expect(page.locator("#gallery .tile")).to_have_count(len(names))
    await host.client.aclose()
    return pages


async def open_panel(page: Page, name: str) -> None:
    if await page.locator(f"#{name}-panel").is_hidden():
        await page.click(f"#{name}")


async def test_chat_is_text_and_private_messages_stay_private(server, new_page) -> None:  # type: ignore[no-untyped-def]
    ann, bob, cat = await people_in(server, new_page, ["Ann", "Bob", "Cat"])
    # Who hosts is shown from the server's roles, whatever names people chose: a badge on the
    # host's tile (and nobody else's).
    for page in (bob, cat):
        badges = page.locator("#gallery .tile .tile-name .role-badge")
        await expect(badges).to_have_count(1)
        await expect(badges).to_have_text("Host")
        await expect(badges.locator("..")).to_contain_text("Ann")
    markup = '<img src=x onerror="window.pwned=1"><b>bold</b>'
    await open_panel(ann, "chat")
    await ann.fill("#chat-text", markup)
    await ann.press("#chat-text", "Enter")
    for page in (bob, cat):
        await expect(page.locator("#chat-badge")).to_have_text("1")
        await open_panel(page, "chat")
        await expect(page.locator("#chat-log .chat-text").last).to_have_text(markup)
        assert await page.locator("#chat-log img, #chat-log b").count() == 0
        assert await page.evaluate("window.pwned") is None
    # A private word from Bob to Ann: Cat never sees it.
    await bob.select_option("#chat-to", label="Ann")
    await bob.fill("#chat-text", "just between us")
    await bob.click("#chat-form button[type=submit]")
    await expect(ann.locator("#chat-log")).to_contain_text("just between us")
    await expect(ann.locator("#chat-log .private")).to_have_count(1)
    await cat.wait_for_timeout(500)
    await expect(cat.locator("#chat-log")).not_to_contain_text("just between us")


async def test_hands_reactions_and_spotlight_are_seen_by_the_right_people(server, new_page) -> None:  # type: ignore[no-untyped-def]
    host, bob, cat = await people_in(server, new_page, ["Teacher", "Bob", "Cat"])
    bob_id = await bob.evaluate("window.mosaicRoom.selfId")
    cat_id = await cat.evaluate("window.mosaicRoom.selfId")
    # Hands: Cat first, then Bob; the host sees them in that order.
    await cat.click("#hand")
    await bob.click("#hand")
    await open_panel(host, "people")
    await expect(host.locator("#hands-list .person-name")).to_have_text(["Cat", "Bob"])
    await expect(
        cat.locator(f'#gallery .tile[data-participant-id="{bob_id}"] .hand-mark')
    ).to_be_visible()
    await host.locator("#hands-list .person").first.get_by_role("button").click()
    await expect(host.locator("#hands-list .person-name")).to_have_text(["Bob"])
    # A reaction shows over the sender's tile for everyone.
    await bob.click("#react")
    await bob.locator(".reaction-choice", has_text="👏").click()
    for page in (host, cat):
        bubble = page.locator(f'.tile[data-participant-id="{bob_id}"] .reaction')
        await expect(bubble).to_have_text("👏")
    # Pin is mine alone; spotlight is for everyone.
    await bob.locator(f'.tile[data-participant-id="{cat_id}"] .tile-pin').click()
    await expect(bob.locator(f'#featured .tile[data-participant-id="{cat_id}"]')).to_be_visible()
    await expect(host.locator("#featured")).to_be_hidden()
    row = host.locator(f'#people-list .person[data-participant-id="{bob_id}"]')
    await row.locator("summary").click()
    await row.locator(".spotlight").click()
    for page in (host, cat):
        await expect(
            page.locator(f'#featured .tile[data-participant-id="{bob_id}"]')
        ).to_be_visible()
        await expect(
            page.locator(f'#featured .tile[data-participant-id="{bob_id}"] .spot-mark')
        ).to_be_visible()


async def test_host_admits_one_guest_and_removes_another(server, new_page, artifacts) -> None:  # type: ignore[no-untyped-def]
    account = await signup(server.url, name="Host")
    meeting = await account.create_meeting()
    host = await new_page()
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Host")
    guests = []
    for name in ("Welcome Guest", "Troll"):
        page = await new_page()
        await page.add_init_script(NO_CAMERA)
        await page.goto(meeting["join_url"])
        await page.fill("#name", name)
        await page.click("#join")
        await expect(page.locator("#waiting")).to_be_visible()
        guests.append(page)
    await open_panel(host, "people")
    await expect(host.locator("#waiting-list .person")).to_have_count(2)
    await host.click("#admit-all")
    for page in guests:
        await expect(page.locator("#room")).to_be_visible()
    troll_id = await guests[1].evaluate("window.mosaicRoom.selfId")
    row = host.locator(f'#people-list .person[data-participant-id="{troll_id}"]')
    await row.locator("summary").click()
    # The roster changes (a hand goes up) while the host's menu is open: it stays open.
    await guests[0].click("#hand")
    await expect(host.locator("#hands-list .person")).to_have_count(1)
    await expect(row.locator(".person-menu")).to_have_attribute("open", "")
    await row.locator(".remove").click()
    await expect(guests[1].locator("#ended")).to_be_visible()
    await expect(guests[1].locator("#ended-title")).to_have_text("You were removed")
    await expect(host.locator("#people-list .person")).to_have_count(2)
    # The troll's way back is shut (same browser, so the same device).
    await guests[1].goto("about:blank")
    await guests[1].goto(meeting["join_url"])
    await guests[1].fill("#name", "Troll again")
    await guests[1].click("#join")
    await expect(guests[1].locator(".form-error")).to_contain_text("removed")
    await host.screenshot(path=str(artifacts / "host-people-panel.png"))


async def test_end_meeting_for_all(server, new_page) -> None:  # type: ignore[no-untyped-def]
    host, guest = await people_in(server, new_page, ["Host", "Guest"])
    await host.click("#leave")
    await host.click("#end-for-all")
    await expect(guest.locator("#ended-title")).to_have_text("The meeting has ended")
