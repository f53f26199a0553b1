"""Resume tokens bring back who was in a meeting, with its role, even after a restart of the
server; they must bring back no one else, and no one with more than they had."""

from __future__ import annotations

import base64
import json
import secrets

import pytest

from mosaic.client import Participant, SignalingClient, SignalingError, join
from mosaic.domain.roster import Participant as Person
from mosaic.domain.roster import Role, State
from mosaic.signaling.resume import ResumeTokens
from tests.helpers.api import Account, signup
from tests.helpers.restart import restart, restartable
from tests.helpers.server import MosaicServer

__all__ = ["restartable"]  # the fixture


def ws(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def resume(server: MosaicServer, token: str, cookies: dict[str, str] | None = None) -> dict:
    client = SignalingClient(ws(server), cookies=cookies, reconnect=False)
    await client.connect()
    try:
        return await client.request("resume", token=token)
    finally:
        await client.close()


async def refusal(server: MosaicServer, token: str, cookies: dict[str, str] | None = None):
    with pytest.raises(SignalingError) as refused:
        await resume(server, token, cookies)
    return refused.value.code, refused.value.reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def altered(token: str, **changes: object) -> str:
    """The same token with its payload changed and its signature kept."""
    body, mac = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    decoded["p"].update(changes)
    return _b64(json.dumps(decoded, separators=(",", ":")).encode()) + "." + mac


async def dropped_guest(link: str, boss: Participant, name: str) -> Participant:
    """A guest in the meeting whose connection then drops (and stays dropped)."""
    guest = await join(link, name=name, reconnect=False)
    await boss.wait_until(lambda: guest.id in boss.participants)
    guest.signaling.drop()
    return guest


async def test_an_altered_or_forged_resume_token_is_refused(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting(waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await dropped_guest(meeting["join_url"], boss, "Gus")
        token = guest.resume_token
        assert token is not None
        meeting_id = meeting["id"]
        impostor = Person("p" + secrets.token_hex(6), "Host", Role.HOST, State.ADMITTED, 0.0)
        attempts = {
            "a co-host by its own say": altered(token, r="cohost"),
            "someone else": altered(token, p=boss.id),
            "its signature changed": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
            "signed with another key": ResumeTokens(secrets.token_bytes(32)).issue(
                meeting_id, impostor
            ),
            "signature of another purpose": token.split(".")[0] + "." + "A" * 43,
        }
        for what, forged in attempts.items():
            assert await refusal(server, forged) == ("unauthorized", "bad_resume_token"), what
        # The real token still brings the guest back, as a participant, once.
        result = await resume(server, token)
        assert (result["self"]["id"], result["self"]["role"]) == (guest.id, "participant")
        await boss.wait_until(
            lambda: boss.participants.get(guest.id, {}).get("role") == "participant"
        )
        assert boss.participants[boss.id]["role"] == "host"


async def test_a_hosts_token_without_the_hosts_session_makes_nobody_host(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting(waiting_room=False)
    async with await join(meeting["join_url"], name="Guest", reconnect=False) as guest:
        boss = await join(meeting["join_url"], name="Host", cookies=host.cookies, reconnect=False)
        await guest.wait_until(lambda: boss.id in guest.participants)
        token = boss.resume_token
        assert token is not None
        boss.signaling.drop()
        other = await signup(server.url)
        assert await refusal(server, token) == ("unauthorized", "bad_resume_token")
        assert await refusal(server, token, other.cookies) == ("unauthorized", "bad_resume_token")
        # With the host's own session it is the host again.
        result = await resume(server, token, host.cookies)
        assert (result["self"]["id"], result["self"]["role"]) == (boss.id, "host")
        await other.client.aclose()


async def test_a_token_brings_back_neither_who_left_nor_who_was_removed_even_after_a_restart(
    restartable: MosaicServer,
) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting(waiting_room=False)
    link = meeting["join_url"]
    boss = await join(link, name="Host", cookies=account.cookies)
    try:
        leaver = await join(link, name="Leaver", reconnect=False)
        troll = await join(link, name="Troll", reconnect=False)
        await boss.wait_until(lambda: {leaver.id, troll.id} <= set(boss.participants))
        leaver_token, troll_token = leaver.resume_token, troll.resume_token
        assert leaver_token and troll_token
        await leaver.leave()
        await boss.request("remove", participant=troll.id)
        await troll.wait_until(lambda: troll.state == "gone")
        assert await refusal(restartable, leaver_token) == ("not_found", "left")
        assert await refusal(restartable, troll_token) == ("forbidden", "removed")

        await restart(restartable)
        await boss.wait_until(lambda: boss.connection_state == "connected" and boss.role == "host")
        assert await refusal(restartable, troll_token) == ("forbidden", "removed")
        assert troll.id not in boss.participants
    finally:
        await boss.leave()
        await account.client.aclose()


async def test_a_token_does_not_reopen_an_ended_meeting(restartable: MosaicServer) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting(waiting_room=False)
    link = meeting["join_url"]
    boss = await join(link, name="Host", cookies=account.cookies)
    guest = await join(link, name="Gus", reconnect=False)
    try:
        await boss.wait_until(lambda: guest.id in boss.participants)
        token = guest.resume_token
        assert token is not None
        await boss.request("end")
        await guest.wait_until(lambda: guest.state == "gone")
        assert await refusal(restartable, token) == ("not_found", "ended")
        await restart(restartable)
        assert await refusal(restartable, token) == ("not_found", "ended")
    finally:
        await boss.leave()
        await account.client.aclose()


async def test_a_locked_meeting_takes_back_who_was_in_after_a_restart_and_no_one_else(
    restartable: MosaicServer,
) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting(waiting_room=False)
    link = meeting["join_url"]
    boss = await join(link, name="Host", cookies=account.cookies)
    guest = await join(link, name="Gus")
    try:
        await boss.wait_until(lambda: guest.id in boss.participants)
        await boss.request("lock", locked=True)
        back: list[str] = []
        for participant in (boss, guest):
            participant.on("resumed", lambda result: back.append(result["self"]["id"]))
        await restart(restartable)
        await boss.wait_until(lambda: len(back) == 2, timeout=15)
        await boss.wait_until(lambda: guest.id in boss.participants and boss.meeting["locked"])
        assert guest.connection_state == "connected" and guest.state == "joined"
        with pytest.raises(SignalingError) as refused:
            await join(link, name="Newcomer", reconnect=False)
        assert refused.value.reason == "locked"
    finally:
        await guest.leave()
        await boss.leave()
        await account.client.aclose()
