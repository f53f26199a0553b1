"""A removal holds, and a meeting's entry state is the stored one.

Each test attacks one way back in that used to work: another device id, none, signing out,
the host ending the meeting, the room emptying, the server restarting, and settings changed
through REST or in the meeting that the door did not see. The server believes the reverse
proxy 127.0.0.1, so that a test can come from several client addresses (``X-Forwarded-For``),
as people behind a real proxy do.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from mosaic.client import Participant, join
from mosaic.client.participant import parse_join_url
from mosaic.security.device import DEVICE_COOKIE
from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.api import Account, signup
from tests.helpers.server import MosaicServer

PROXIED = ("--trusted-proxies", "127.0.0.1", "--join-rate-per-minute", "100000",
           "--join-free-failures", "100000")  # fmt: skip
_addresses = itertools.count(10)


def new_address() -> str:
    """A client address of its own (TEST-NET-3), as a reverse proxy would report it."""
    return f"203.0.113.{next(_addresses)}"


@dataclass
class Knock:
    """One raw signaling connection from a chosen address with chosen cookies: what an
    attacker controls, and nothing the Python client would add by itself."""

    connection: ClientConnection
    answer: dict[str, Any]
    device_cookie: str | None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.answer["type"] == "error":
            return "refused"
        return str(self.answer["result"]["state"])

    @property
    def reason(self) -> str | None:
        return self.answer.get("reason")

    @property
    def id(self) -> str:
        return str(self.answer["result"]["self"]["id"])

    @property
    def cookies(self) -> dict[str, str]:
        assert self.device_cookie is not None
        return {DEVICE_COOKIE: self.device_cookie}

    async def next_event(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            async for text in self.connection:
                frame = json.loads(text)
                self.events.append(frame)
                if frame.get("type") == kind:
                    return frame
        raise AssertionError(f"closed before {kind}")

    async def close(self) -> None:
        await self.connection.close()


async def knock(
    join_url: str,
    *,
    address: str,
    cookies: dict[str, str] | None = None,
    name: str = "Guest",
    passcode: str | None = None,
    **join_fields: Any,
) -> Knock:
    url, meeting_id, link_passcode = parse_join_url(join_url)
    headers = {"X-Forwarded-For": address}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    connection = await websockets.connect(
        url,
        subprotocols=[SUBPROTOCOL],
        additional_headers=headers,  # type: ignore[list-item]
    )
    device_cookie = (cookies or {}).get(DEVICE_COOKIE)
    assert connection.response is not None
    for value in connection.response.headers.get_all("Set-Cookie"):
        if value.startswith(DEVICE_COOKIE + "="):
            device_cookie = value.split(";", 1)[0].split("=", 1)[1]
    frame = {
        "type": "join",
        "id": 1,
        "meeting": meeting_id,
        "name": name,
        "passcode": passcode if passcode is not None else link_passcode,
        **join_fields,
    }
    await connection.send(json.dumps(frame))
    async with asyncio.timeout(10):
        async for text in connection:
            answer = json.loads(text)
            if answer.get("id") == 1:
                break
    knocked = Knock(connection, answer, device_cookie)
    if knocked.state == "refused":
        await connection.close()
    return knocked


async def page_cookie(base_url: str) -> str:
    """A fresh, valid device cookie, as any browser gets from the home page."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get("/")
        return response.cookies[DEVICE_COOKIE]


async def host_in(host: Account, **settings: object) -> tuple[dict[str, Any], Participant]:
    meeting = await host.create_meeting(**settings)
    boss = await join(meeting["join_url"], name="Host", cookies=host.cookies, reconnect=False)
    return meeting, boss


async def remove(boss: Participant, victim: Knock) -> None:
    await boss.wait_until(lambda: victim.id in boss.participants)
    await boss.request("remove", participant=victim.id)
    await victim.next_event("removed")
    await victim.close()


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    running = MosaicServer(tmp_path_factory.mktemp("removal"), *PROXIED).start()
    yield running
    running.stop()


# -- the device cookie -------------------------------------------------------------------------


async def test_the_device_cookie_is_the_servers_and_out_of_scripts_reach(proxied) -> None:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(base_url=proxied.url) as client:
        page = await client.get("/m/abcd-efgh-jkmn")
        header = page.headers["set-cookie"]
        assert header.startswith(DEVICE_COOKIE + "=")
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}
        assert {"httponly", "path", "max-age"} <= attributes and "samesite=lax" in header.lower()
        assert "secure" not in attributes  # plain http here; https adds Secure
        # A browser that has one keeps it: no new cookie on the next page.
        again = await client.get("/")
        assert "set-cookie" not in again.headers


# -- removed people stay out -------------------------------------------------------------------


async def test_a_removed_guest_cannot_return_with_another_device_or_none(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        home = new_address()
        troll = await knock(meeting["join_url"], address=home, name="Troll")
        assert troll.state == "joined" and troll.device_cookie
        await remove(boss, troll)
        # The same browser, from anywhere: its device is banned.
        back = await knock(meeting["join_url"], address=new_address(), cookies=troll.cookies)
        assert (back.state, back.reason) == ("refused", "removed")
        # Without the cookie, or with a fresh one, or claiming a device id: the address is.
        for cookies in (None, {DEVICE_COOKIE: await page_cookie(proxied.url)}):
            back = await knock(
                meeting["join_url"], address=home, cookies=cookies, device="a-new-device-0123456789"
            )
            assert (back.state, back.reason) == ("refused", "removed")
        # A forged cookie is no cookie at all.
        forged = {DEVICE_COOKIE: troll.device_cookie[:-4] + "AAAA"}  # type: ignore[index]
        back = await knock(meeting["join_url"], address=home, cookies=forged)
        assert back.reason == "removed"


async def test_a_removed_account_cannot_return_as_a_guest(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        account = await signup(proxied.url)
        home = new_address()
        troll = await knock(meeting["join_url"], address=home, cookies=account.cookies)
        assert troll.state == "joined"
        await remove(boss, troll)
        # Signed out (no session cookie), same browser, another network.
        as_guest = await knock(
            meeting["join_url"], address=new_address(), cookies=troll.cookies, name="Someone"
        )
        assert (as_guest.state, as_guest.reason) == ("refused", "removed")
        # Signed out, cookies cleared, same network.
        as_guest = await knock(meeting["join_url"], address=home, name="Someone")
        assert (as_guest.state, as_guest.reason) == ("refused", "removed")
        # Signed in, in a new browser, on a new network: the account is banned.
        session = {k: v for k, v in account.cookies.items() if k != DEVICE_COOKIE}
        again = await knock(meeting["join_url"], address=new_address(), cookies=session)
        assert (again.state, again.reason) == ("refused", "removed")


async def test_after_the_host_ends_the_meeting_the_banned_hear_it_ended(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    troll = await knock(meeting["join_url"], address=new_address(), name="Troll")
    await remove(boss, troll)
    await boss.request("end")
    await boss.wait_until(lambda: boss.state == "gone")
    await boss.leave()
    # The protocol's `ended` refusal, for the banned device and for anyone else, instead of a
    # fresh room.
    banned = await knock(meeting["join_url"], address=new_address(), cookies=troll.cookies)
    assert (banned.state, banned.reason) == ("refused", "ended")
    anyone = await knock(meeting["join_url"], address=new_address())
    assert (anyone.state, anyone.reason) == ("refused", "ended")
    # The host starts it again; the removal still holds.
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as again:
        assert again.state == "joined" and again.role == "host"
        banned = await knock(meeting["join_url"], address=new_address(), cookies=troll.cookies)
        assert (banned.state, banned.reason) == ("refused", "removed")


async def test_ban_and_lock_survive_the_room_emptying(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        troll = await knock(meeting["join_url"], address=new_address(), name="Troll")
        await remove(boss, troll)
        await boss.request("lock", locked=True)
    await asyncio.sleep(0.5)  # the last one left: the room closes
    back = await knock(meeting["join_url"], address=new_address(), cookies=troll.cookies)
    assert (back.state, back.reason) == ("refused", "removed")
    newcomer = await knock(meeting["join_url"], address=new_address())
    assert (newcomer.state, newcomer.reason) == ("refused", "locked")


async def test_ban_lock_and_end_survive_a_restart(tmp_path: Path) -> None:
    first = MosaicServer(tmp_path, *PROXIED).start()
    try:
        host = await signup(first.url)
        kept, boss = await host_in(host, waiting_room=False)
        troll_home = new_address()
        async with boss:
            troll = await knock(kept["join_url"], address=troll_home, name="Troll")
            await remove(boss, troll)
            await boss.request("lock", locked=True)
        ended, boss = await host_in(host, waiting_room=False)
        await boss.request("end")
        await boss.leave()
        await host.client.aclose()
    finally:
        assert first.stop() == 0
    second = MosaicServer(tmp_path, *PROXIED).start()
    try:
        moved = {"kept": kept["join_url"], "ended": ended["join_url"]}
        for key, url in moved.items():
            moved[key] = url.replace(first.url, second.url)
        back = await knock(moved["kept"], address=new_address(), cookies=troll.cookies)
        assert (back.state, back.reason) == ("refused", "removed")
        back = await knock(moved["kept"], address=troll_home)
        assert (back.state, back.reason) == ("refused", "removed")
        newcomer = await knock(moved["kept"], address=new_address())
        assert (newcomer.state, newcomer.reason) == ("refused", "locked")
        late = await knock(moved["ended"], address=new_address())
        assert (late.state, late.reason) == ("refused", "ended")
    finally:
        assert second.stop() == 0


async def test_after_a_removal_strangers_wait_and_the_host_can_turn_that_off(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        regular_home = new_address()
        regular = await knock(meeting["join_url"], address=regular_home, name="Regular")
        assert regular.state == "joined"
        troll = await knock(meeting["join_url"], address=new_address(), name="Troll")
        await remove(boss, troll)
        # The troll in a new browser on a new network is a stranger: it meets the host.
        stranger = await knock(meeting["join_url"], address=new_address(), name="Troll again")
        assert stranger.state == "waiting"
        # Someone the meeting admitted before comes back in directly, and so does an account.
        await regular.close()
        await boss.wait_until(lambda: regular.id not in boss.participants)
        regular = await knock(
            meeting["join_url"], address=regular_home, cookies=regular.cookies, name="Regular"
        )
        assert regular.state == "joined"
        account = await signup(proxied.url)
        signed_in = await knock(meeting["join_url"], address=new_address(), cookies=account.cookies)
        assert signed_in.state == "joined"
        # The host trusts the door again.
        await boss.request("settings", settings={"wait_after_removal": False})
        welcome = await knock(meeting["join_url"], address=new_address(), name="Latecomer")
        assert welcome.state == "joined"
        for knocked in (stranger, regular, signed_in, welcome):
            await knocked.close()


# -- settings take effect at the next join ---------------------------------------------------


async def test_a_rest_change_of_the_waiting_room_applies_to_the_next_guest(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        first = await knock(meeting["join_url"], address=new_address())
        assert first.state == "joined"
        patched = await host.patch(
            f"/api/meetings/{meeting['id']}", {"settings": {"waiting_room": True}}
        )
        assert patched.status_code == 200, patched.text
        second = await knock(meeting["join_url"], address=new_address())
        assert second.state == "waiting"
        # The people in the meeting see the change too.
        await boss.wait_until(lambda: boss.meeting["settings"]["waiting_room"] is True)
        for knocked in (first, second):
            await knocked.close()


async def test_a_rest_change_to_signed_in_only_refuses_the_next_anonymous_guest(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False)
    async with boss:
        first = await knock(meeting["join_url"], address=new_address())
        assert first.state == "joined"
        patched = await host.patch(
            f"/api/meetings/{meeting['id']}", {"settings": {"signed_in_only": True}}
        )
        assert patched.status_code == 200, patched.text
        second = await knock(meeting["join_url"], address=new_address())
        assert (second.state, second.reason) == ("refused", "sign_in_required")
        await first.close()


async def test_a_passcode_turned_on_in_the_meeting_is_asked_at_the_next_join(proxied) -> None:  # type: ignore[no-untyped-def]
    host = await signup(proxied.url)
    meeting, boss = await host_in(host, waiting_room=False, passcode_required=False)
    async with boss:
        first = await knock(meeting["join_url"], address=new_address())
        assert first.state == "joined"
        result = await boss.request("settings", settings={"passcode_required": True})
        passcode = result["passcode"]  # made now, shown to this host once
        await boss.wait_until(lambda: boss.meeting["settings"]["passcode_required"] is True)
        without = await knock(meeting["join_url"], address=new_address())
        assert (without.state, without.reason) == ("refused", "bad_passcode_or_id")
        with_it = await knock(meeting["join_url"], address=new_address(), passcode=passcode)
        assert with_it.state == "joined"
        # And it is the meeting's setting now, not the room's: it outlives the room.
        record = await host.client.get(f"/api/meetings/{meeting['id']}")
        assert record.json()["settings"]["passcode_required"] is True
        for knocked in (first, with_it):
            await knocked.close()
