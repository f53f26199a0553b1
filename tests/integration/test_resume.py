"""A participant whose connection drops comes back to its place with its resume token."""

from __future__ import annotations

import asyncio
import time

import pytest

from mosaic.client import SignalingClient, SignalingError, join
from mosaic.config import Settings
from mosaic.signaling.room import RESUME_GRACE_S
from tests.helpers.api import Account, signup
from tests.helpers.server import MosaicServer


def ws(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def test_a_dropped_connection_resumes_its_place_without_waiting_again(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting()  # with a waiting room
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        # Resumed by hand below: the client's own reconnecting is off.
        guest = await join(meeting["join_url"], name="Guest", reconnect=False)
        await boss.wait_until(lambda: bool(boss.waiting))
        await boss.request("admit", all=True)
        await guest.wait_admitted()
        token = guest.signaling.events[-1].get("resume_token") or guest.resume_token
        assert token
        # The network drops: no closing handshake at all.
        guest.signaling._connection.transport.abort()  # type: ignore[union-attr]
        await asyncio.sleep(0.5)
        assert guest.id in boss.participants  # the place is kept
        again = SignalingClient(ws(server))
        await again.connect()
        result = await again.request("resume", token=token)
        assert result["state"] == "joined"
        assert result["self"]["id"] == guest.id
        assert not result.get("restored")  # the same place, media and all
        assert [p["id"] for p in result["participants"]].count(guest.id) == 1
        assert boss.waiting == []  # no new trip through the waiting room
        await asyncio.sleep(0.3)
        assert list(boss.participants).count(guest.id) == 1
        await again.request("chat", text="back again")
        assert (await boss.wait_for("chat"))["from"] == guest.id
        await again.request("leave")
        await again.close()
        await boss.wait_until(lambda: guest.id not in boss.participants, timeout=2)


# A grace of its own for the test below: the default (RESUME_GRACE_S, 15 s) would be waited
# out in full; 2 s still leaves the drop time to be seen as a loss, not a leave.
SHORT_GRACE_S = 2.0


async def test_a_participant_gone_past_the_grace_leaves_the_roster_and_may_come_back(
    make_server,  # type: ignore[no-untyped-def]
) -> None:
    """Past the grace the place is given up (others see them leave); the signed token, still
    valid for minutes, brings them back as they were (a laptop woken from sleep)."""
    server = make_server("--resume-grace-s", str(SHORT_GRACE_S))
    host = await signup(server.url)
    meeting = await host.create_meeting()  # with a waiting room
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest", reconnect=False)
        await boss.wait_until(lambda: bool(boss.waiting))
        await boss.request("admit", all=True)
        await guest.wait_admitted()
        await boss.wait_until(lambda: guest.id in boss.participants)
        guest.signaling.drop()
        dropped = time.monotonic()
        await boss.wait_until(lambda: guest.id not in boss.participants, timeout=SHORT_GRACE_S + 5)
        assert time.monotonic() - dropped >= SHORT_GRACE_S - 0.2  # kept for the grace first
        client = SignalingClient(ws(server))
        await client.connect()
        result = await client.request("resume", token=guest.resume_token)
        assert (result["state"], result["self"]["id"], result["restored"]) == (
            "joined",
            guest.id,
            True,
        )
        await boss.wait_until(lambda: guest.id in boss.participants)
        assert boss.waiting == []
        await client.close()
    await host.client.aclose()


def test_the_default_grace_is_the_documented_one() -> None:
    """The short grace above is the test's own: a server started without the flag keeps a
    dropped participant's place for RESUME_GRACE_S."""
    assert Settings().resume_grace_s == RESUME_GRACE_S == 15.0


async def test_a_forged_resume_token_is_refused(server: MosaicServer) -> None:
    client = SignalingClient(ws(server))
    await client.connect()
    with pytest.raises(SignalingError) as refused:
        await client.request("resume", token="eyJwIjp7fX0." + "A" * 43)
    assert (refused.value.code, refused.value.reason) == ("unauthorized", "bad_resume_token")
    await client.close()
