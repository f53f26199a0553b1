"""When a client gives a media connection up: failed, or not connected in time, waiting
longer after each replacement in a row."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCPeerConnection

from mosaic.client.watchdog import MAX_CONNECT_TIMEOUT_S, Watchdog


async def given_up_after(dog: Watchdog, pc: RTCPeerConnection) -> tuple[str, float]:
    verdict: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    started = time.monotonic()
    dog.watch(pc, lambda given, why: verdict.set_result(why) if given is pc else None)
    why = await asyncio.wait_for(verdict, 5)
    return why, time.monotonic() - started


async def test_a_connection_not_up_in_time_is_given_up_and_the_wait_doubles() -> None:
    dog = Watchdog(first_wait_s=0.1)
    first, second = RTCPeerConnection(), RTCPeerConnection()  # never negotiated: "new"
    why, waited = await given_up_after(dog, first)
    assert why == "still new" and 0.09 < waited < 0.5
    dog.gave_up()
    why, waited = await given_up_after(dog, second)
    assert 0.19 < waited < 0.6 and dog.replaced == 1
    await first.close()
    await second.close()


async def test_the_wait_never_exceeds_a_minute_and_a_closed_connection_is_left_alone() -> None:
    dog = Watchdog(first_wait_s=1.0)
    for _ in range(20):
        dog.gave_up()
    assert dog.wait_s == MAX_CONNECT_TIMEOUT_S
    calm = Watchdog(first_wait_s=0.05)
    pc = RTCPeerConnection()
    verdicts: list[str] = []
    calm.watch(pc, lambda given, why: verdicts.append(why))
    await pc.close()
    await asyncio.sleep(0.2)
    assert verdicts == []
