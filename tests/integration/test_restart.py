"""A restart of the server (an upgrade) and a dropped connection: everyone comes back by itself.

The server is stopped as a service manager stops it (SIGTERM) and started again on the same port
and data directory; the clients are left alone, as their users would leave them.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from mosaic.client import Participant, SignalingError, join, signaling
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import signup
from tests.helpers.restart import restart, restartable
from tests.helpers.server import MosaicServer

__all__ = ["restartable"]  # the fixture

LOOPBACK = ["127.0.0.1"]
BACK_WITHIN_S = 10.0


def connection_states(participant: Participant) -> list[str]:
    states: list[str] = []
    participant.on("connection", lambda event: states.append(event["state"]))
    return states


async def receiving_video(receiver: Participant, sender: Participant, frames: int = 3) -> None:
    """``receiver`` decodes a few frames of ``sender``'s camera."""
    await receiver.wait_until(lambda: receiver.track_of(sender.id) is not None, timeout=15)
    track = receiver.track_of(sender.id)
    assert track is not None
    for _ in range(frames):
        await asyncio.wait_for(track.recv(), 10)


async def test_everyone_is_back_with_their_role_within_seconds_of_a_restart(
    restartable: MosaicServer,
) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting()  # passcode and waiting room on
    link = meeting["join_url"]
    host = await join(link, name="Host", cookies=account.cookies, local_addresses=LOOPBACK)
    cohost = await join(link, name="Cora", local_addresses=LOOPBACK)
    guest = await join(link, name="Gus", local_addresses=LOOPBACK)
    waiter = await join(link, name="Walt", local_addresses=LOOPBACK)
    everyone = (host, cohost, guest, waiter)
    try:
        await host.wait_until(lambda: len(host.waiting) == 3)
        await host.request("admit", participants=[cohost.id, guest.id])
        await cohost.wait_admitted()
        await guest.wait_admitted()
        await host.request("cohost", participant=cohost.id, cohost=True)
        await cohost.wait_for("token")  # the new role is in a new token
        await cohost.wait_until(lambda: cohost.role == "cohost")
        await host.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
        await receiving_video(guest, host)
        subscriber_before = guest.media.subscriber
        states = {p.name: connection_states(p) for p in everyone}
        since = {p.name: len(p.signaling.events) for p in everyone}

        # The clients live on meanwhile, as their users would leave them.
        stopped_at = time.monotonic()
        await restart(restartable)
        listening_at = time.monotonic()  # the new process is up (its start took seconds here)

        def left_s() -> float:
            return max(0.1, BACK_WITHIN_S - (time.monotonic() - listening_at))

        for participant in everyone:
            await participant.wait_until(
                lambda p=participant: states[p.name] == ["reconnecting", "connected"],  # type: ignore[misc]
                timeout=left_s(),
            )
        await host.wait_until(
            lambda: (
                {cohost.id, guest.id} <= set(host.participants)
                and [w["id"] for w in host.waiting] == [waiter.id]
            ),
            timeout=left_s(),
        )
        now = time.monotonic()
        print(
            f"everyone back {now - listening_at:.1f} s after the new server listened,"
            f" {now - stopped_at:.1f} s after SIGTERM"
        )

        roles = {pid: person["role"] for pid, person in host.participants.items()}
        assert roles == {host.id: "host", cohost.id: "cohost", guest.id: "participant"}
        assert (host.role, cohost.role, guest.role) == ("host", "cohost", "participant")
        assert (guest.state, cohost.state, waiter.state) == ("joined", "joined", "waiting")
        # The admitted guest did not go through the waiting room again; the one who waited
        # waits again, and learns nothing of the meeting meanwhile.
        news = host.signaling.events[since["Host"] :]
        waiting_lists = [e["participants"] for e in news if e["type"] == "waiting"]
        assert all(guest.id not in [w["id"] for w in lst] for lst in waiting_lists)
        assert not any(e["type"] == "roster" for e in waiter.signaling.events[since["Walt"] :])

        # Media flows again, on new connections at both ends.
        await guest.wait_until(lambda: guest.media.subscriber is not subscriber_before, timeout=10)
        await receiving_video(guest, host)
        # And the meeting works: the co-host admits the waiting guest.
        await cohost.request("admit", participants=[waiter.id])
        await waiter.wait_admitted()
    finally:
        for participant in everyone:
            await participant.leave()
        await account.client.aclose()


async def test_a_dropped_connection_comes_back_by_itself(restartable: MosaicServer) -> None:
    account = await signup(restartable.url)
    meeting = await account.create_meeting(waiting_room=False)
    link = meeting["join_url"]
    async with (
        await join(link, name="Host", cookies=account.cookies) as host,
        await join(link, name="Gus") as guest,
    ):
        await host.wait_until(lambda: guest.id in host.participants)
        states = connection_states(guest)
        resumed: list[dict] = []
        guest.on("resumed", resumed.append)
        guest.signaling.drop()  # no closing handshake: a network failure
        await guest.wait_until(lambda: states == ["reconnecting", "connected"])
        assert resumed[0]["self"]["id"] == guest.id and not resumed[0].get("restored")
        await guest.request("chat", text="back")
        assert (await host.wait_for("chat"))["from"] == guest.id
        assert list(host.participants).count(guest.id) == 1


async def test_a_client_whose_server_stays_away_fails_requests_at_once_then_says_closed(
    restartable: MosaicServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While reconnecting, a request fails at once (nothing is sent on a socket that has not
    re-joined); a server that does not come back in time ends it, and a program can tell."""
    monkeypatch.setattr(signaling, "RECONNECT_FOR_S", 8.0)
    account = await signup(restartable.url)
    meeting = await account.create_meeting(waiting_room=False)
    guest = await join(meeting["join_url"], name="Gus")
    states = connection_states(guest)
    try:
        await asyncio.to_thread(restartable.stop)
        await guest.wait_until(lambda: guest.connection_state == "reconnecting", timeout=5)
        with pytest.raises(SignalingError) as refused:
            await asyncio.wait_for(guest.request("chat", text="anyone?"), 0.5)
        assert refused.value.code == "reconnecting"
        await guest.wait_until(lambda: guest.connection_state == "closed", timeout=10)
        assert states == ["reconnecting", "closed"]
        assert (guest.state, guest.ended_reason) == ("gone", "disconnected")
    finally:
        await guest.leave()
        await account.client.aclose()
