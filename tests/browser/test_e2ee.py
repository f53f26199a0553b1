"""End-to-end encryption in Chromium (issue 16): the meeting works, and only with the link's key.

The key is in the invite link's fragment (``#k=``), made here as the host's browser would; the
pages encrypt every frame in a worker (RTCRtpScriptTransform) and the chat as ``e2ee:``
ciphertext. Firefox ESR joins the same kind of meeting in tests/browser/test_firefox_e2ee.py.
"""

from __future__ import annotations

import asyncio
import re

from playwright.async_api import Page, expect

from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.e2ee_pages import e2ee_state, link_key, with_key
from tests.helpers.waiting import wait_until

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"


async def chat(page: Page, text: str) -> None:
    if await page.locator("#chat-panel").is_hidden():
        await page.click("#chat")
    await page.fill("#chat-text", text)
    await page.press("#chat-text", "Enter")


async def axe_clean(page: Page, state: str) -> None:
    """No serious axe violation in what the page shows now (the lock, the code, the screens)."""
    await page.evaluate(axe_source())
    bad = unacceptable(await page.evaluate(RUN))
    assert not bad, describe(state, bad)


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
    sent: list[str] = []  # every WebSocket frame both pages send
    for page in (ada, ben):
        page.on(
            "websocket",
            lambda socket: socket.on(
                "framesent", lambda frame: sent.append(frame if isinstance(frame, str) else "")
            ),
        )
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
    # The worker decrypted Ada's frames (its counts come once a second).
    ada_id = await ada.evaluate("() => window.mosaicRoom.selfId")
    await wait_until(
        lambda: ben.evaluate(f"() => window.mosaicRoom.e2ee.decoded['{ada_id}'] > 0"), timeout=5
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
    assert any('"e2ee:' in frame for frame in sent)
    assert not [f for f in sent if key in f or "eagle" in f]
    # A clear message in an encrypted meeting (only the server could write one) is marked so.
    await ben.evaluate(
        """() => window.mosaicRoom.signaling.emit('chat', {type: 'chat', from: 'p000000000000',
            name: 'Ada', text: 'send me your password', at: Date.now() / 1000})"""
    )
    await expect(ben.locator("#chat-log .chat-clear .chat-mark")).to_have_text(
        "Not end-to-end encrypted"
    )
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
    await axe_clean(carl, "no-key screen")
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
    # Ada sees a mark on Eve's tile (her frames never open), not a black tile without a word.
    await expect(ada.locator("#stage .tile .e2ee-fail-mark")).to_have_count(1, timeout=10000)
    await expect(eve.locator("#ended")).to_have_attribute("data-reason", "wrongkey", timeout=20000)
    await expect(eve.locator("#ended-title")).to_contain_text("end-to-end encrypted")


async def test_a_host_turns_it_on_and_a_waiting_guest_gets_the_key_only_once_admitted(
    server, new_page: PageFactory
) -> None:
    host = await new_page()
    await host.goto(server.url)
    await host.fill("#signup-name", "Hedy Lamarr")
    await host.fill("#signup-email", "hedy@example.org")
    await host.fill("#signup-password", "frequency hopping spread")
    await host.click("#signup-form button[type=submit]")
    await expect(host.locator("#dashboard")).to_be_visible()
    await host.fill("#topic", "Secret rehearsal")
    await host.check("#new-e2ee")
    await host.click("#new-meeting")
    await expect(host.locator("#created")).to_be_visible()
    link = await host.locator("#created-link").get_attribute("href")
    assert link and "#pwd=" in link and "&k=" in link  # the key, made here, rides in the fragment
    await host.click("#start-meeting")
    await host.click("#join")
    await expect(host.locator("#room")).to_be_visible(timeout=15000)
    await expect(host.locator("#e2ee-badge")).to_be_visible()
    # The server cannot record what it cannot read: Record is off, and says why.
    record = host.locator("#record")
    await expect(record).to_be_disabled()
    await expect(record).to_have_attribute("aria-label", re.compile("not available"))
    invite = await host.locator("[data-invite-link]").input_value()
    assert invite == link

    guest = await new_page()
    await guest.add_init_script(NO_CAMERA)
    await guest.goto(invite)
    await guest.fill("#name", "Guest")
    await guest.click("#join")
    await expect(guest.locator("#waiting")).to_be_visible()
    await asyncio.sleep(1)
    # Waiting, the guest holds no meeting key: nothing was handed to it.
    assert await guest.evaluate("() => window.mosaicRoom === undefined")
    await host.click("#people")
    await host.click("#admit-all")
    await expect(guest.locator("#room")).to_be_visible()
    host_id = await host.evaluate("() => window.mosaicRoom.selfId")
    # The key came from the host's client, wrapped for the guest, at the epoch after the join.
    await wait_until(lambda: guest.evaluate("() => window.mosaicRoom.e2ee.keyFrom"), timeout=10)
    assert await guest.evaluate("() => window.mosaicRoom.e2ee.keyFrom") == host_id
    assert (await e2ee_state(guest))["epoch"] == 1
    await wait_until(lambda: decoding_from(guest, 1), timeout=30)
    await wait_until(lambda: same_codes([host, guest]), timeout=10)


async def test_a_host_opening_a_keyless_encrypted_meeting_makes_the_key(
    server, new_page: PageFactory
) -> None:
    account = await signup(server.url, name="Host")
    meeting = await account.create_meeting(waiting_room=False, e2ee=True)
    host = await new_page()
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Host")
    invite = await host.locator("[data-invite-link]").input_value()
    assert re.search(r"#pwd=[^&]+&k=[A-Za-z0-9_-]{43}$", invite), invite
    await wait_until(lambda: host.evaluate("() => window.mosaicRoom.e2ee.safetyCode"), timeout=10)
    await expect(host.locator("#safety-code")).to_have_text(re.compile(r"^\d{5} \d{5}$"))


async def test_screen_share_and_private_chat_stay_whole_when_encrypted(
    server, new_page: PageFactory
) -> None:
    account = await signup(server.url, name="Presenter")
    meeting = await account.create_meeting(waiting_room=False, e2ee=True)
    link = with_key(meeting["join_url"], link_key())
    presenter = await new_page()
    await presenter.add_init_script(NO_CAMERA)
    await presenter.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(presenter, link, "Presenter")
    viewer = await new_page()
    await viewer.add_init_script(NO_CAMERA)
    await enter(viewer, link, "Viewer")
    await wait_until(lambda: same_codes([presenter, viewer]), timeout=10)
    await presenter.click("#share")
    screen = viewer.locator("#featured .tile.screen")
    await expect(screen).to_be_visible()
    await wait_until(
        lambda: viewer.evaluate(
            "() => document.querySelector('#featured .tile.screen video').videoWidth"
        ),
        timeout=30,
    )
    presenter_id = await presenter.evaluate("() => window.mosaicRoom.selfId")
    viewer_id = await viewer.evaluate("() => window.mosaicRoom.selfId")
    await wait_until(
        lambda: viewer.evaluate(f"() => window.mosaicRoom.e2ee.decoded['{presenter_id}'] > 0"),
        timeout=5,
    )
    # Private chat, encrypted too, reaches its one reader.
    await presenter.click("#chat")
    await presenter.select_option("#chat-to", viewer_id)
    await presenter.fill("#chat-text", "only for you")
    await presenter.press("#chat-text", "Enter")
    await viewer.click("#chat")
    await expect(viewer.locator("#chat-log .chat-message.private .chat-text")).to_have_text(
        ["only for you"]
    )
    await axe_clean(viewer, "encrypted room with a screen and private chat")


async def test_a_host_turns_encryption_on_for_an_existing_meeting_from_the_list(
    server, new_page: PageFactory
) -> None:
    account = await signup(server.url, name="Host")
    meeting = await account.create_meeting()
    page = await new_page()
    await page.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await page.goto(server.url)
    toggle = page.locator(f'[data-e2ee-toggle="{meeting["id"]}"]')
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await toggle.click()
    await expect(page.locator("#created")).to_be_visible()
    link = await page.locator("#created-link").get_attribute("href")
    assert link and re.search(r"#k=[A-Za-z0-9_-]{43}$", link), link
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    changed = (await account.client.get(f"/api/meetings/{meeting['id']}")).json()
    assert changed["settings"]["e2ee"] is True
    # The meeting list's Start link carries the key this browser made.
    start = await page.locator(f'[data-meeting-id="{meeting["id"]}"] a.primary').get_attribute(
        "href"
    )
    assert start == link


async def test_breakout_rooms_work_in_an_encrypted_meeting(server, new_page: PageFactory) -> None:
    account = await signup(server.url, name="Teacher")
    meeting = await account.create_meeting(topic="Class", waiting_room=False, e2ee=True)
    link = with_key(meeting["join_url"], link_key())
    host = await new_page()
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    sent: list[str] = []  # every WebSocket frame the host's page sends
    host.on(
        "websocket",
        lambda socket: socket.on(
            "framesent", lambda frame: sent.append(frame if isinstance(frame, str) else "")
        ),
    )
    await enter(host, link, "Teacher")
    ada, ben = await new_page(), await new_page()
    await enter(ada, link, "Ada")
    await enter(ben, link, "Ben")
    ids = {}
    for name, page in (("Ada", ada), ("Ben", ben)):
        ids[name] = await page.evaluate("() => window.mosaicRoom.selfId")
    await host.click("#breakouts")
    await host.fill("#bo-count", "1")
    await host.click("#bo-create")
    for name in ("Ada", "Ben"):
        await host.select_option(f'.bo-person[data-participant-id="{ids[name]}"] .bo-assign', "b1")
    await host.click("#bo-open")
    for page in (ada, ben):
        await expect(page.locator("#breakout-bar")).to_be_visible()
    # In their room they see and hear each other, decrypted; the room's chat is encrypted too.
    for page, other in ((ada, "Ben"), (ben, "Ada")):
        await wait_until(lambda page=page: decoding_from(page, 1), timeout=30)
        await wait_until(
            lambda page=page, other=other: page.evaluate(
                f"() => window.mosaicRoom.e2ee.decoded['{ids[other]}'] > 0"
            ),
            timeout=5,
        )
    await chat(ada, "room one only")
    await expect(ben.locator("#chat-log .chat-text")).to_have_text(["room one only"])
    await expect(host.locator("#chat-log .chat-text")).to_have_count(0)
    # The host's word to every room goes as ciphertext and is read decrypted in the room.
    await host.fill("#bo-broadcast-text", "Five more minutes of reading")
    await host.click("#bo-broadcast-form button[type=submit]")
    for page in (ada, ben):
        await expect(page.locator(".toast.broadcast")).to_contain_text(
            "Five more minutes of reading"
        )
    broadcasts = [frame for frame in sent if "breakouts.broadcast" in frame]
    assert broadcasts and all("e2ee:" in f and "reading" not in f for f in broadcasts)
