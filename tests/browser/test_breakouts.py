"""Breakout rooms from the host's browser: the issue's scenario driven through the Breakout
panel, with one participant in Chromium (what a participant sees: the room's name, the
countdown, the one-minute warning, Ask for help, a broadcast) and the others in Python.

The rooms are created, named, filled by drag, by the menu and automatically, opened with a
20-second timer, visited by the host, and closed by the server's clock: everyone is back in the
main room and the host's media connection is the one it had before (moving is no reconnect).
axe audits the panel and the participant's bar on the way, in both languages.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from mosaic.client import Participant, join
from mosaic.client.signaling import SignalingError
from mosaic.client.synthetic import ToneAudioTrack
from tests.browser.accessibility import RUN, axe_source, describe, unacceptable
from tests.browser.conftest import PageFactory, screenshot_path
from tests.browser.meeting import enter
from tests.helpers.api import signup

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
# The 20 s timer, as a host types it: a third of a minute.
TWENTY_SECONDS = "0.3333"
MARKUP = '<img src=x onerror="window.pwned=1">'
ANNOUNCED = "() => [...document.querySelectorAll('#announcer p')].map((p) => p.textContent)"


async def audit(page: Page, artifacts, name: str) -> list[str]:  # type: ignore[no-untyped-def]
    """axe's serious findings (and unjustified lesser ones) on the page as it is now."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    violations = await page.evaluate(RUN)
    await page.screenshot(path=screenshot_path(artifacts, f"breakouts-{name}"))
    bad = unacceptable(violations)
    return [describe(name, bad)] if bad else []


class Seen:
    """The last `breakouts` state and every broadcast a Python participant was sent."""

    def __init__(self, participant: Participant) -> None:
        self.state: dict[str, Any] = {}
        self.broadcasts: list[str] = []
        self.muted: list[str] = []
        participant.on("breakouts", lambda event: setattr(self, "state", event))
        participant.on("broadcast", lambda event: self.broadcasts.append(event["text"]))
        participant.on("muted", lambda event: self.muted.append(event["source"]))


async def test_host_runs_breakout_rooms_from_the_panel_and_everyone_comes_back(
    server, new_page: PageFactory, artifacts
) -> None:  # type: ignore[no-untyped-def]
    account = await signup(server.url, name="Teacher")
    meeting = await account.create_meeting(topic="Class", waiting_room=False)
    host = await new_page()
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Teacher")
    pupil = await new_page()
    await pupil.add_init_script(NO_CAMERA)
    await enter(pupil, meeting["join_url"], "Pupil")
    bots = [
        await join(meeting["join_url"], name=name, decode=False, local_addresses=["127.0.0.1"])
        for name in ("Ana", "Ben", "Cleo")
    ]
    seen = [Seen(bot) for bot in bots]
    for bot in bots[1:]:  # Ben and Cleo speak (a host may mute them wherever they are)
        await bot.publish(audio=ToneAudioTrack())
        await bot.request("media", source="microphone", on=True)
    problems: list[str] = []
    try:
        await expect(host.locator("#gallery .tile")).to_have_count(5, timeout=15000)
        await host.evaluate("window.before = window.mosaicRoom.media.subscriber")
        pupil_id = await pupil.evaluate("window.mosaicRoom.selfId")
        # A participant has no Breakout button; the host's opens the panel, focus on its heading.
        await expect(pupil.locator("#breakouts")).to_be_hidden()
        await host.click("#breakouts")
        await expect(host.locator("#breakouts-panel h2")).to_be_focused()
        await host.fill("#bo-count", "2")
        await host.click("#bo-create")
        names = host.locator("#bo-room-list .bo-room-name")
        await expect(names).to_have_count(2)
        await expect(names.first).to_have_value("Room 1")
        await expect(host.locator("#breakouts-panel h2")).to_be_focused()  # Create is gone
        await names.first.fill("Red team")
        await names.first.press("Enter")
        await expect(names.first).to_have_value("Red team")
        # Ana by drag into room 2, the pupil by the menu beside her name into room 1, the
        # rest automatically (balanced): two in each room.
        room2 = host.locator('#bo-room-list .bo-room[data-room-id="b2"]')
        await host.locator(f'.bo-person[data-participant-id="{bots[0].id}"]').drag_to(room2)
        await expect(
            room2.locator(f'.bo-person[data-participant-id="{bots[0].id}"]')
        ).to_be_visible()
        menu = host.locator(f'.bo-person[data-participant-id="{pupil_id}"] .bo-assign')
        # By keyboard: the next option after "Main room" is the first room.
        await menu.focus()
        await host.keyboard.press("ArrowDown")
        await expect(menu).to_have_value("b1")
        await expect(menu).to_be_focused()  # the rebuilt list gives focus back to the menu
        room1 = host.locator('#bo-room-list .bo-room[data-room-id="b1"]')
        await expect(room1.locator(f'.bo-person[data-participant-id="{pupil_id}"]')).to_be_visible()
        await host.select_option("#bo-auto", "balanced")
        await host.click("#bo-auto-assign")
        await expect(room1.locator(".bo-person")).to_have_count(2)
        await expect(room2.locator(".bo-person")).to_have_count(2)
        problems += await audit(host, artifacts, "host-draft")
        # Open with the 20 s timer: the rooms close with the one-minute warning at once.
        await host.fill("#bo-minutes", TWENTY_SECONDS)
        await host.click("#bo-open")
        await expect(host.locator("#bo-panel-countdown")).to_have_text(
            re.compile(r"Closes in 0:[0-2]\d")
        )
        bar = pupil.locator("#breakout-bar")
        await expect(bar).to_be_visible()
        await expect(pupil.locator("#bo-where")).to_have_text("You are in Red team")
        await expect(pupil.locator("#bo-countdown")).to_have_text(re.compile(r"Closes in 0:[01]\d"))
        await expect(pupil.locator("#bo-warning")).to_be_visible()
        assert "You are now in Red team." in await pupil.evaluate(ANNOUNCED)
        for bot, view in zip(bots, seen, strict=True):
            await bot.wait_until(lambda view=view: view.state.get("room") in ("b1", "b2"))
            assert view.state["state"] in ("open", "closing") and view.state["ends_at"]
        # The pupil's stage shows their room only: themselves and the one bot placed with them.
        await expect(pupil.locator("#gallery .tile")).to_have_count(2)
        # The host visits Red team and is still host there: mutes the bot in it.
        await host.click('#bo-room-list .bo-room[data-room-id="b1"] .bo-visit')
        await expect(host.locator("#bo-where")).to_have_text("You are visiting Red team")
        await expect(host.locator("#gallery .tile")).to_have_count(3)
        await expect(pupil.locator("#gallery .tile")).to_have_count(3)
        index = next(i for i, view in enumerate(seen) if view.state["room"] == "b1")
        assert index > 0  # Ana went to room 2 by drag
        await host.click("#people")
        row = host.locator(f'#people-list .person[data-participant-id="{bots[index].id}"]')
        await row.locator("summary").click()
        await row.locator(".mute").click()
        await bots[index].wait_until(lambda: "microphone" in seen[index].muted)
        await host.click("#breakouts")
        problems += await audit(pupil, artifacts, "participant-bar")
        # Ask for help: the host is told, in a toast and in the panel (with a Visit button).
        await pupil.click("#bo-help")
        await expect(host.locator("#bo-help-list .person")).to_have_count(1)
        await expect(host.locator("#bo-help-list")).to_contain_text(
            "Pupil asks for help in Red team"
        )
        # A broadcast reaches every room, the pupil's browser and every bot.
        await host.fill("#bo-broadcast-text", "Five more minutes of reading")
        await host.click("#bo-broadcast-form button[type=submit]")
        await expect(pupil.locator(".toast.broadcast")).to_contain_text(
            "Five more minutes of reading"
        )
        for bot, view in zip(bots, seen, strict=True):
            await bot.wait_until(
                lambda view=view: "Five more minutes of reading" in view.broadcasts
            )
        problems += await audit(host, artifacts, "host-open")
        # The server's clock closes the rooms: everyone back in the main room.
        await expect(bar).to_be_hidden(timeout=30000)
        await expect(host.locator("#breakout-bar")).to_be_hidden()
        for bot, view in zip(bots, seen, strict=True):
            await bot.wait_until(lambda view=view: view.state.get("state") == "closed", timeout=10)
            assert view.state["room"] is None
        await expect(pupil.locator("#gallery .tile")).to_have_count(5)
        assert "You are back in the main room." in await pupil.evaluate(ANNOUNCED)
        await expect(host.locator("#bo-setup")).to_be_visible()
        # No reconnect: the host's subscribe connection is the one it had before the rooms.
        assert await host.evaluate("window.mosaicRoom.media.subscriber === window.before")
        assert not [e for e in host.errors + pupil.errors if "breakout" in e.lower()]  # type: ignore[attr-defined]
    finally:
        for bot in bots:
            await bot.leave()
        await account.client.aclose()
    assert not problems, "\n".join(problems)


async def test_the_breakout_panel_and_bar_speak_french(
    server, new_page: PageFactory, artifacts
) -> None:  # type: ignore[no-untyped-def]
    account = await signup(server.url, name="Prof")
    meeting = await account.create_meeting(topic="Cours", waiting_room=False)
    host = await new_page(locale="fr-FR")
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Prof")
    pupil = await join(
        meeting["join_url"], name="Élève", decode=False, local_addresses=["127.0.0.1"]
    )
    seen = Seen(pupil)
    try:
        await host.locator("#breakouts").focus()
        await host.keyboard.press("Enter")
        await expect(host.locator("#breakouts-panel h2")).to_have_text("Salles de sous-groupes")
        await host.click("#bo-create")
        await expect(host.locator("#bo-room-list .bo-room-name").first).to_have_value("Salle 1")
        await host.locator(
            f'.bo-person[data-participant-id="{pupil.id}"] .bo-assign'
        ).select_option("b2")
        await host.click("#bo-open")  # no timer
        await expect(host.locator("#bo-close")).to_be_visible()
        await expect(host.locator("#bo-panel-countdown")).to_be_hidden()
        # "Add 5 minutes" on rooms without a timer starts one, five minutes from now.
        await host.click("#bo-extend")
        countdown = re.compile(r"Fermeture dans [45]:\d\d")
        await expect(host.locator("#bo-panel-countdown")).to_have_text(countdown)
        await host.click('#bo-room-list .bo-room[data-room-id="b2"] .bo-visit')
        await expect(host.locator("#bo-where")).to_have_text("Vous visitez Salle 2")
        problems = await audit(host, artifacts, "fr-host-visiting")
        # Escape closes the panel and gives focus back to its button.
        await host.locator("#bo-close").focus()
        await host.keyboard.press("Escape")
        await expect(host.locator("#breakouts-panel")).to_be_hidden()
        await expect(host.locator("#breakouts")).to_be_focused()
        # The host comes back by the bar's Return button; then closes every room.
        await host.click("#bo-return")
        await expect(host.locator("#breakout-bar")).to_be_hidden()
        await host.click("#breakouts")
        await host.click("#bo-close")
        await pupil.wait_until(lambda: seen.state.get("state") == "closed")
        await expect(host.locator("#bo-setup")).to_be_visible()
        assert not problems, "\n".join(problems)
    finally:
        await pupil.leave()
        await account.client.aclose()


async def test_a_participant_chooses_a_room_and_returns_by_keyboard(
    server, new_page: PageFactory, artifacts
) -> None:  # type: ignore[no-untyped-def]
    account = await signup(server.url, name="Coach")
    meeting = await account.create_meeting(topic="Workshop", waiting_room=False)
    coach = await join(
        meeting["join_url"],
        name="Coach",
        cookies=account.cookies,
        decode=False,
        local_addresses=["127.0.0.1"],
    )
    page = await new_page()
    await page.add_init_script(NO_CAMERA)
    try:
        await enter(page, meeting["join_url"], "Dana")
        await coach.request(
            "breakouts.create", rooms=[{"name": "Tables"}, {"name": MARKUP}], mode="choose"
        )
        # While the host drafts, a participant sees nothing of the rooms.
        await page.wait_for_timeout(300)
        await expect(page.locator("#breakout-bar")).to_be_hidden()
        await coach.request("breakouts.open", allow_return=True)
        await expect(page.locator("#bo-where")).to_have_text("Breakout rooms are open: choose one.")
        await expect(page.locator("#bo-countdown")).to_be_hidden()  # no timer
        problems = await audit(page, artifacts, "participant-chooser")
        await page.locator("#bo-choose").focus()
        await page.keyboard.press("ArrowDown")
        await expect(page.locator("#bo-choose")).to_have_value("b2")
        await page.keyboard.press("Tab")
        await expect(page.locator("#bo-join")).to_be_focused()
        await page.keyboard.press("Enter")
        # A room's name and a broadcast are text, never markup.
        await expect(page.locator("#bo-where")).to_have_text(f"You are in {MARKUP}")
        await coach.request("breakouts.broadcast", text=MARKUP)
        await expect(page.locator(".toast.broadcast")).to_contain_text(MARKUP)
        assert await page.locator("#breakout-bar img, #toasts img").count() == 0
        assert await page.evaluate("window.pwned") is None
        # Return to the main room, by keyboard too; focus stays in the bar (the chooser).
        await page.locator("#bo-return").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator("#bo-where")).to_have_text("Breakout rooms are open: choose one.")
        await expect(page.locator("#bo-choose")).to_be_focused()
        assert "You are back in the main room." in await page.evaluate(ANNOUNCED)
        await coach.request("breakouts.close")
        await expect(page.locator("#breakout-bar")).to_be_hidden()
        assert not problems, "\n".join(problems)
    finally:
        await coach.leave()
        await account.client.aclose()


async def test_the_host_makes_someone_co_host_of_their_room_from_the_panel(
    server, new_page: PageFactory
) -> None:  # type: ignore[no-untyped-def]
    """The host makes Pia co-host of the room she is in, from the panel: she learns it, and
    may then mute Quin there, which she could not before (the server decides)."""
    account = await signup(server.url, name="Teacher")
    meeting = await account.create_meeting(topic="Class", waiting_room=False)
    host = await new_page()
    await host.add_init_script(NO_CAMERA)
    await host.context.add_cookies(
        [{"name": k, "value": v, "url": server.url} for k, v in account.cookies.items()]
    )
    await enter(host, meeting["join_url"], "Teacher")
    pia, quin = [
        await join(meeting["join_url"], name=name, decode=False, local_addresses=["127.0.0.1"])
        for name in ("Pia", "Quin")
    ]
    seen = Seen(pia)
    try:
        await expect(host.locator("#gallery .tile")).to_have_count(3, timeout=15000)
        await host.click("#breakouts")
        await host.fill("#bo-count", "1")
        await host.click("#bo-create")
        for person in (pia, quin):
            await host.select_option(
                f'.bo-person[data-participant-id="{person.id}"] .bo-assign', "b1"
            )
        room = host.locator('#bo-room-list .bo-room[data-room-id="b1"]')
        await expect(room.locator(".bo-person")).to_have_count(2)
        await host.click("#bo-open")
        await pia.wait_until(lambda: seen.state.get("room") == "b1")
        with_pia = room.locator(f'.bo-person[data-participant-id="{pia.id}"]')
        toggle = with_pia.get_by_role("button", name="Room co-host: Pia")
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        with pytest.raises(SignalingError) as refused:
            await pia.request("mute", participant=quin.id, source="microphone")
        assert refused.value.code == "forbidden"
        await toggle.click()
        await expect(toggle).to_have_attribute("aria-pressed", "true")
        await pia.wait_until(lambda: seen.state.get("cohosts", {}).get(pia.id) == "b1")
        await pia.request("mute", participant=quin.id, source="microphone")
        await toggle.click()  # and back
        await expect(toggle).to_have_attribute("aria-pressed", "false")
        await pia.wait_until(lambda: pia.id not in seen.state.get("cohosts", {}))
    finally:
        for person in (pia, quin):
            await person.leave()
        await account.client.aclose()
