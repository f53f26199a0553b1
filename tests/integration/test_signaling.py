"""Joining, the live roster and the waiting room over real WebSockets."""

from __future__ import annotations

import asyncio
import time

import pytest

from mosaic.client import SignalingClient, SignalingError, join
from tests.helpers.api import Account, signup
from tests.helpers.server import MosaicServer


def ws_url(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def open_meeting(host: Account, **settings: object) -> dict:
    return await host.create_meeting(**settings)


async def test_host_enters_own_meeting_without_passcode_or_waiting(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host)
    bare_url = meeting["join_url"].split("#")[0]
    async with await join(bare_url, name="The Host", cookies=host.cookies) as me:
        assert me.state == "joined"
        assert me.role == "host"
        assert me.meeting["topic"] == "Test meeting"
        assert list(me.participants) == [me.id]


async def test_guest_waits_until_admitted_then_both_see_each_other(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host)
    async with (
        await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss,
        await join(meeting["join_url"], name="Guest") as guest,
    ):
        assert guest.state == "waiting"
        assert guest.participants == {}
        await boss.wait_until(lambda: [w["name"] for w in boss.waiting] == ["Guest"])
        await boss.request("admit", participants=[guest.id])
        await guest.wait_admitted()
        assert guest.state == "joined"
        assert set(guest.participants) == {boss.id, guest.id}
        await boss.wait_until(lambda: guest.id in boss.participants)
        assert boss.participants[guest.id]["name"] == "Guest"


async def test_leaving_removes_a_participant_for_everyone_within_two_seconds(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host, waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        await boss.wait_until(lambda: guest.id in boss.participants)
        started = time.monotonic()
        await guest.leave()
        await boss.wait_until(lambda: guest.id not in boss.participants, timeout=2.0)
        assert time.monotonic() - started < 2.0


async def test_a_dropped_connection_also_removes_the_participant(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host, waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        await boss.wait_until(lambda: guest.id in boss.participants)
        await guest.signaling.close()  # no "leave": the tab was closed
        await boss.wait_until(lambda: guest.id not in boss.participants, timeout=2.0)


async def test_wrong_passcode_and_unknown_meeting_get_the_same_answer(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host)
    answers = []
    for meeting_id, passcode in ((meeting["id"], "wrongcode"), ("aaaa-bbbb-cccc", "whatever")):
        client = SignalingClient(ws_url(server))
        await client.connect()
        with pytest.raises(SignalingError) as refused:
            await client.request("join", meeting=meeting_id, name="Mallory", passcode=passcode)
        answers.append((refused.value.code, refused.value.message))
        await client.close()
    assert answers[0] == answers[1]
    assert answers[0][0] == "unauthorized"


async def test_requests_before_joining_are_refused(server: MosaicServer) -> None:
    client = SignalingClient(ws_url(server))
    await client.connect()
    with pytest.raises(SignalingError) as refused:
        await client.request("chat", text="hello?")
    assert refused.value.code == "unauthorized"
    await client.close()


async def test_malformed_frames_get_typed_errors_and_the_connection_survives(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as me:
        signaling = me.signaling
        for frame in (
            "not json",
            "[1, 2, 3]",
            '{"id": 7, "type": "no_such_type"}',
            '{"id": 8, "type": "chat"}',
            '{"id": 9, "type": "chat", "text": "hi", "surprise": 1}',
            '{"id": 10, "type": "chat", "text": ' + '"x"' * 1 + ', "to": 5}',
            '{"id": 11, "type": "chat", "text": "' + "y" * 70_000 + '"}',
        ):
            before = len(signaling.events)
            await signaling.send_text(frame)
            error = await signaling.wait_for("error", since=before, timeout=5)
            assert error["code"] == "bad_request"
        assert (await me.request("ping"))["pong"] > 0


async def test_joining_twice_on_one_connection_is_refused(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as me:
        with pytest.raises(SignalingError) as refused:
            await me.request("join", meeting=meeting["id"], name="Again")
        assert refused.value.code == "bad_request"


async def test_a_join_storm_is_batched_into_few_roster_frames(
    server: MosaicServer, host: Account
) -> None:
    meeting = await open_meeting(host, waiting_room=False, passcode_required=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        # Eleven, below the join-flood threshold that would turn the waiting room on.
        guests = await asyncio.gather(
            *(join(meeting["join_url"], name=f"Guest {i}") for i in range(11))
        )
        await boss.wait_until(lambda: len(boss.participants) == 12)
        roster_frames = [e for e in boss.signaling.events if e["type"] == "roster"]
        assert len(roster_frames) < 11
        await asyncio.gather(*(g.leave() for g in guests))


async def test_unknown_subprotocol_is_refused(server: MosaicServer) -> None:
    import websockets

    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(ws_url(server), subprotocols=["other.v9"]):  # type: ignore[list-item]
            pass


async def test_participant_names_are_cleaned(server: MosaicServer) -> None:
    owner = await signup(server.url)
    meeting = await owner.create_meeting(waiting_room=False)
    async with await join(meeting["join_url"], name="  Zoë   van  Dijk ") as me:
        assert me.name == "Zoë van Dijk"


async def test_a_room_that_empties_closes_without_an_error(make_server) -> None:
    """The last one out closes the room in the background: nothing of it may fail unseen (a
    failed close would leave its media and stored state behind)."""
    server = make_server()
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    async with await join(meeting["join_url"], name="Host", cookies=host.cookies) as boss:
        guest = await join(meeting["join_url"], name="Guest")
        await boss.wait_until(lambda: guest.id in boss.participants)
        await guest.leave()
    await asyncio.sleep(1.0)
    assert "Traceback" not in server.log
    assert "failed" not in server.log
    await host.client.aclose()
