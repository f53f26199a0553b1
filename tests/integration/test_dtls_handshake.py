"""The DTLS handshake that never finished (ICE completed, DTLS "connecting"), and its log.

The cause, found with the handshake log (`mosaic.rtc.handshake_log`): on a subscribe
connection the client checks the server's candidates as soon as it has answered, often before
its answer reaches the server. aioice took the server for controlled until `start`, so it
answered such checks with a role conflict (487) when the client's tie-breaker was the larger;
the client switched to controlling, nominated, completed ICE and sent its ClientHello; then
`start` made the server controlling as well, the client made it yield, and the server's pair
succeeded without ever being nominated: ICE never completed on the server, the ClientHellos
waited unread. Under load the answer is slow to arrive, hence "now and then, under load".
Here both conditions are made certain: the client's answer is held back and its tie-breaker is
the largest there is.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

import aioice.ice
import pytest

from mosaic.bots.mosaic_bot import MosaicBot
from mosaic.bots.swarm import start_all, stop_all, wait_for_media
from mosaic.client import Participant, join
from mosaic.client.synthetic import PatternVideoTrack
from mosaic.rtc.aiortc_bridge import ice_connection
from tests.helpers.api import Account
from tests.helpers.participants import LOOPBACK
from tests.helpers.server import MosaicServer

LARGEST_TIE_BREAKER = 2**64 - 1


def answer_late(participant: Participant, delay_s: float = 0.5) -> None:
    """Hold each answer back: the client's first checks reach the server before it."""
    request = participant.signaling.request

    async def late(kind: str, **fields: Any) -> dict[str, Any]:
        if kind == "answer":
            await asyncio.sleep(delay_s)
        return await request(kind, **fields)

    participant.signaling.request = late  # type: ignore[method-assign]


async def test_a_subscribe_connection_checked_before_its_answer_arrives_connects(
    server: MosaicServer, host: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await host.create_meeting(waiting_room=False)
    ann = await join(
        created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
    )
    initialise = aioice.ice.Connection.__init__

    def winning(self: aioice.ice.Connection, *args: Any, **kwargs: Any) -> None:
        initialise(self, *args, **kwargs)
        self._tie_breaker = LARGEST_TIE_BREAKER  # every role conflict goes the client's way

    monkeypatch.setattr(aioice.ice.Connection, "__init__", winning)
    bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
    bob.media.watchdogs["subscribe"].first_wait_s = 60.0  # no replacement to hide the fault
    answer_late(bob)
    async with ann, bob:
        await ann.publish(video=PatternVideoTrack())
        await bob.wait_until(
            lambda: (
                bob.media.subscriber is not None
                and bob.media.subscriber.connectionState == "connected"
            ),
            timeout=8,
        )
        connection = ice_connection(bob.media.subscriber)
        assert connection is not None and not connection.ice_controlling  # as offered
        assert bob.media.watchdogs["subscribe"].replaced == 0


async def test_a_handshake_given_up_leaves_its_flights_in_the_log(
    server: MosaicServer, host: Account, caplog: pytest.LogCaptureFixture
) -> None:
    """What the client sent and what reached its socket, with times: here ClientHellos (the
    first and its retransmissions, 1 s then 2 s later), each answered by the server's flight,
    which a filter behind the log then drops before DTLS reads it."""
    created = await host.create_meeting(waiting_room=False)
    bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
    bob.media.watchdogs["subscribe"].first_wait_s = 3.5

    def deaf(mid: str, track: object) -> None:
        pc = bob.media.subscriber
        connection = ice_connection(pc) if pc is not None else None
        if connection is None or getattr(connection, "deaf", False):
            return
        forward = connection.data_received
        connection.deaf = True  # type: ignore[attr-defined]

        def data_received(data: bytes, component: int) -> None:
            if not 19 < data[0] < 64:  # RFC 7983: 20-63 is DTLS
                forward(data, component)

        connection.data_received = data_received  # type: ignore[method-assign]

    bob.media.on_track(deaf)
    ann = await join(
        created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
    )
    with caplog.at_level(logging.WARNING, logger="mosaic.client.watchdog"):
        async with ann, bob:
            await ann.publish(video=PatternVideoTrack())
            await bob.wait_until(lambda: bob.media.watchdogs["subscribe"].replaced, timeout=15)
    text = caplog.text
    assert "giving up a connection: DTLS handshake client" in text
    assert "ICE completed" in text and "DTLS connecting as client" in text
    assert text.count("out    169B ClientHello#0") >= 3
    assert "in     7" in text and "ServerHello#0, Certificate#1" in text


async def test_bots_still_count_their_media_once_the_handshake_log_lets_go(
    server: MosaicServer, host: Account
) -> None:
    """A bot counts media with a hook on its connection (`divert_datagrams`) set before the
    handshake; the handshake log wraps it and must put it back when the handshake ends (it
    once removed it, and the forwarding benchmark's bots counted nothing)."""
    created = await host.create_meeting(waiting_room=False)
    bots = [
        MosaicBot(created["join_url"], name, cookies=host.cookies, local_addresses=LOOPBACK)
        for name in ("bot0", "bot1")
    ]
    started = await start_all(bots)
    try:
        assert len(started) == 2
        assert await wait_for_media(started, minimum=20, timeout=20)
    finally:
        await stop_all(bots)


async def test_leaving_while_an_offer_is_being_answered_leaves_no_failed_task(
    server: MosaicServer, host: Account
) -> None:
    """A participant who leaves (or whose socket drops) while answering an offer cannot send
    the answer: that is the end of that offer, not an error for asyncio to report as a task
    that failed unseen (seen by the dozen when bots left a join storm)."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        created = await host.create_meeting(waiting_room=False)
        ann = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        bob = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        answering = asyncio.Event()
        request = bob.signaling.request

        async def held(kind: str, **fields: Any) -> dict[str, Any]:
            if kind == "answer":
                answering.set()
                await asyncio.sleep(1.0)
            return await request(kind, **fields)

        bob.signaling.request = held  # type: ignore[method-assign]
        async with ann:
            await ann.publish(video=PatternVideoTrack())
            await asyncio.wait_for(answering.wait(), 15)
            await bob.leave()
            await asyncio.sleep(1.5)
            gc.collect()  # a failed task nobody awaited is reported when it is collected
            await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert not [c for c in reported if "_answer_offer" in repr(c.get("future"))], reported
