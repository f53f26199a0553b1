"""A whole meeting with the keyboard alone, as someone who cannot use a mouse takes part.

The person in Chromium never clicks: Tab and Shift+Tab move, Enter and Space press, the
documented shortcuts act, and text is typed into whatever has focus. A host (mosaic.client)
lets them in, mutes them and lowers their hand; what they are told comes through the page's
polite live region, and who speaks is named in words on the stage."""

from __future__ import annotations

from playwright.async_api import Page, expect

from mosaic.client import join
from mosaic.client.synthetic import ToneAudioTrack
from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter
from tests.helpers.api import signup

LOOPBACK = ["127.0.0.1"]
NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
FOCUSED_ID = "() => document.activeElement ? document.activeElement.id : null"


async def assert_axe_clean(page: Page, state: str) -> None:
    """axe-core finds nothing serious (nor anything unjustified) in the page as it is now."""
    await page.evaluate(axe_source())
    bad = unacceptable(await page.evaluate(RUN))
    assert not bad, describe(state, bad)


async def tab_to(page: Page, selector: str, *, backwards: bool = False, limit: int = 40) -> None:
    """Press Tab (or Shift+Tab) until the element matching ``selector`` has focus."""
    key = "Shift+Tab" if backwards else "Tab"
    matches = (
        f"() => Boolean(document.activeElement && document.activeElement.matches({selector!r}))"
    )
    for _ in range(limit):
        if await page.evaluate(matches):
            return
        await page.keyboard.press(key)
    raise AssertionError(
        f"{selector} is not reachable with {key} (focus on {await page.evaluate(FOCUSED_ID)})"
    )


# An element's id, or where it stands in the document for those without one.
KEY = "(e) => e.id || `${e.className}@${[...document.querySelectorAll('*')].indexOf(e)}`"
# Every control a person can use in the room, visible now, in document order.
VISIBLE_CONTROLS = """() => [...document.querySelectorAll(
        '#room button, #room select, #room input, #room textarea, #room summary, #room a[href]')]
    .filter((e) => !e.closest('[hidden]') && e.offsetParent !== null && !e.disabled)
    .map(KEY)""".replace("KEY", KEY)
FOCUSED = f"() => ({KEY})(document.activeElement)"


async def tab_cycle(page: Page, limit: int = 60) -> list[str]:
    """The controls Tab visits, from where focus is, once round the page."""
    seen: list[str] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        now = await page.evaluate(FOCUSED)
        if now in seen:
            break
        if now:
            seen.append(now)
    return seen


async def test_a_whole_meeting_with_the_keyboard_alone(
    server, new_page: PageFactory, artifacts
) -> None:
    account = await signup(server.url, name="Hostess")
    meeting = await account.create_meeting(waiting_room=True, screen_share="everyone")
    host = await join(
        meeting["join_url"], name="Hostess", cookies=account.cookies, local_addresses=LOOPBACK
    )
    page = await new_page()
    await page.add_init_script(NO_CAMERA)
    announced = page.locator("#announcer")
    try:
        # Pre-join: the microphone off, a name typed, Enter.
        await page.goto(meeting["join_url"])
        await expect(page.locator("#join")).not_to_have_attribute("aria-disabled", "true")
        await tab_to(page, "#preview-mic")
        await page.keyboard.press("Space")
        await expect(page.locator("#preview-mic")).to_have_attribute("aria-pressed", "false")
        await tab_to(page, "#name")
        await page.keyboard.type("Kay")
        await page.keyboard.press("Enter")

        # The waiting room is said; being let in is said.
        await expect(page.locator("#waiting")).to_be_visible()
        await expect(announced).to_contain_text("You are in the waiting room.")
        await host.wait_until(lambda: len(host.waiting) == 1)
        kay = host.waiting[0]["id"]
        await host.request("admit", participants=[kay])
        await expect(page.locator("#room")).to_be_visible(timeout=15000)
        await expect(announced).to_contain_text("You were admitted to the meeting.")

        # Every control is reachable with Tab, the room's top bar first, then the stage, then
        # the meeting controls from the microphone to Leave.
        controls = await page.evaluate(VISIBLE_CONTROLS)
        visited = await tab_cycle(page)
        assert set(controls) <= set(visited), set(controls) - set(visited)
        toolbar = ["mic", "cam", "share", "hand", "react", "chat", "people", "leave"]
        assert [c for c in visited if c in toolbar] == toolbar
        assert visited.index("help") < visited.index("mic")

        # Someone joining is said; when they talk, their name is shown as the speaker.
        bob = await join(meeting["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with bob:
            await host.wait_until(lambda: len(host.waiting) == 1)
            bob_id = host.waiting[0]["id"]
            await host.request("admit", participants=[bob_id])
            await bob.wait_admitted()
            await expect(announced).to_contain_text("Bob joined.")
            await bob.publish(audio=ToneAudioTrack(gain=0.5))
            caption = page.locator("#speaker-caption")
            await expect(caption).to_have_text("Speaking: Bob", timeout=15000)
            await expect(caption).to_be_visible()
            await expect(
                page.locator(f'.tile.dominant[data-participant-id="{bob_id}"]')
            ).to_have_count(1)

            # Unmute from the toolbar; the host mutes again, and that is said.
            await tab_to(page, "#mic")
            await page.keyboard.press("Space")
            await expect(page.locator("#mic")).to_have_attribute("aria-pressed", "true")
            await host.wait_until(lambda: bool(host.participants[kay].get("audio")))
            await host.request("mute", participant=kay, source="microphone")
            await expect(page.locator("#mic")).to_have_attribute("aria-pressed", "false")
            await expect(announced).to_contain_text("Hostess muted you.")
            # The shortcut says what it did (focus does not move, so nothing else would).
            await page.keyboard.press("Alt+A")
            await expect(page.locator("#mic")).to_have_attribute("aria-pressed", "true")
            await expect(announced).to_contain_text("Microphone on.")
            await page.keyboard.press("Alt+A")
            await expect(announced).to_contain_text("Microphone off.")

            # Share the screen (Enter on the button), then stop with its shortcut.
            await tab_to(page, "#share")
            await page.keyboard.press("Enter")
            await expect(page.locator("#share")).to_have_attribute("aria-pressed", "true")
            await host.wait_until(lambda: bool(host.participants[kay].get("screen")))
            await page.keyboard.press("Alt+S")
            await expect(page.locator("#share")).to_have_attribute("aria-pressed", "false")
            await host.wait_until(lambda: not host.participants[kay].get("screen"))

            # Chat: open it with its shortcut, reach the message box, type, Enter.
            chats: list[dict[str, object]] = []
            host.on("chat", chats.append)
            await page.keyboard.press("Alt+H")
            await expect(page.locator("#chat-panel")).to_be_visible()
            await tab_to(page, "#chat-text")
            await page.keyboard.type("Hello from the keyboard")
            await page.keyboard.press("Enter")
            await host.wait_until(
                lambda: any(c["text"] == "Hello from the keyboard" for c in chats)
            )
            await expect(page.locator("#chat-log")).to_contain_text("Hello from the keyboard")
            await page.keyboard.press("Alt+H")
            await expect(page.locator("#chat-panel")).to_be_hidden()

            # Raise a hand with its shortcut (said), the host lowers it (said too).
            await page.keyboard.press("Alt+Y")
            await expect(page.locator("#hand")).to_have_attribute("aria-pressed", "true")
            await expect(announced).to_contain_text("Your hand is raised.")
            await host.wait_until(lambda: bool(host.participants[kay].get("hand")))
            await host.request("lower_hand", participant=kay)
            await expect(page.locator("#hand")).to_have_attribute("aria-pressed", "false")
            await expect(announced).to_contain_text("A host lowered your hand.")

            # React: the picker opens from its button, a reaction is chosen with Enter.
            reactions: list[dict[str, object]] = []
            host.on("reaction", reactions.append)
            await tab_to(page, "#react")
            await page.keyboard.press("Enter")
            await expect(page.locator("#reaction-picker")).to_be_visible()
            await tab_to(page, "#reaction-picker .reaction-choice")
            await page.keyboard.press("Enter")
            await host.wait_until(lambda: any(r["participant"] == kay for r in reactions))
            await expect(page.locator("#reaction-picker")).to_be_hidden()

            # "?" opens the shortcuts in a modal dialog that keeps focus; Escape gives it back.
            await tab_to(page, "#hand")
            await page.keyboard.press("?")
            dialog = page.locator("#help-dialog")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_contain_text("Alt+Y")
            await expect(dialog).to_contain_text("Raise or lower your hand")
            for key in ("Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"):
                await page.keyboard.press(key)
                inside = await page.evaluate(
                    "() => document.getElementById('help-dialog').contains(document.activeElement)"
                )
                assert inside, f"focus left the dialog after {key}"
            await page.screenshot(path=str(artifacts / "keyboard-help.png"))
            await assert_axe_clean(page, "help dialog and speaker caption")
            await page.keyboard.press("Escape")
            await expect(dialog).to_be_hidden()
            assert await page.evaluate(FOCUSED_ID) == "hand"

            # Leave with Enter on Leave: the meeting is over for Kay, and the host sees it.
            await tab_to(page, "#leave")
            await page.keyboard.press("Enter")
            await expect(page.locator("#ended")).to_be_visible()
            await host.wait_until(lambda: kay not in host.participants)
        assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        await host.leave()


async def test_announcements_and_shortcuts_are_in_french(server, new_page: PageFactory) -> None:
    """The same words reach a French speaker in French."""
    account = await signup(server.url, name="Hôtesse")
    meeting = await account.create_meeting(waiting_room=True)
    host = await join(
        meeting["join_url"], name="Hôtesse", cookies=account.cookies, local_addresses=LOOPBACK
    )
    page = await new_page(locale="fr-FR")
    await page.add_init_script(NO_CAMERA)
    announced = page.locator("#announcer")
    try:
        await page.goto(meeting["join_url"])
        await expect(page.locator("#join")).not_to_have_attribute("aria-disabled", "true")
        await tab_to(page, "#name")
        await page.keyboard.type("Camille")
        await page.keyboard.press("Enter")
        await expect(announced).to_contain_text("Vous êtes dans la salle d'attente.")
        await host.wait_until(lambda: len(host.waiting) == 1)
        await host.request("admit", participants=[host.waiting[0]["id"]])
        await expect(announced).to_contain_text("Vous avez été admis dans la réunion.")
        await page.keyboard.press("?")
        await expect(page.locator("#help-dialog")).to_contain_text("Lever ou baisser la main")
        await assert_axe_clean(page, "aide (fr)")
    finally:
        await host.leave()


async def test_losing_and_regaining_the_connection_is_announced(
    server, new_page: PageFactory
) -> None:
    """Connection lost goes to the assertive region (it cannot wait); back, to the polite one."""
    account = await signup(server.url)
    meeting = await account.create_meeting(waiting_room=False)
    page = await new_page()
    await page.add_init_script(NO_CAMERA)
    await enter(page, meeting["join_url"], "Lou")
    # The network drops the signaling socket (not a close the server or the person asked for).
    await page.evaluate("() => window.mosaicRoom.signaling.socket.close(4001, 'network')")
    await expect(page.locator("#announcer-urgent")).to_contain_text("Connection lost.")
    await expect(page.locator("#announcer")).to_contain_text("Reconnected.", timeout=15000)
    assert "Connection lost" not in await page.locator("#announcer").inner_text()
