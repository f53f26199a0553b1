"""When a client gives a media connection up: failed, not connected in time, or silent while
packets are expected; waiting longer after each replacement in a row."""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCPeerConnection

from mosaic.client.watchdog import MAX_CONNECT_TIMEOUT_S, MAX_SILENCE_S, Silence, Watchdog


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


def test_silence_is_death_only_while_packets_are_expected() -> None:
    silence = Silence(limit_s=5.0)
    assert not silence.dead(0.0, expected=False, received=7)
    assert not silence.dead(1.0, expected=False, received=9)
    assert not silence.dead(100.0, expected=False, received=9)  # nothing live: quiet is fine
    assert not silence.dead(101.0, expected=True, received=9)  # live from now: time to start
    assert not silence.dead(105.5, expected=True, received=9)
    assert silence.dead(106.0, expected=True, received=9)  # 5 s expected, nothing came


def test_a_connection_that_never_received_anything_waits_twice_as_long() -> None:
    """Its publishers may still be connecting themselves."""
    silence = Silence(limit_s=5.0)
    assert not silence.dead(0.0, expected=True, received=0)
    assert not silence.dead(9.9, expected=True, received=0)
    assert silence.dead(10.0, expected=True, received=0)


def test_every_packet_restarts_the_wait_and_a_track_going_live_gets_the_full_wait() -> None:
    silence = Silence(limit_s=5.0)
    for second in range(20):
        assert not silence.dead(float(second), expected=True, received=second + 1)  # flowing
        assert silence.moved == (second > 0)
    assert not silence.dead(23.9, expected=True, received=20)
    assert silence.dead(24.0, expected=True, received=20)  # 5 s after the last packet
    # The track went off (no packets due), then on again: the wait starts afresh.
    assert not silence.dead(40.0, expected=False, received=20)
    assert not silence.dead(44.0, expected=True, received=20)
    assert not silence.dead(48.9, expected=True, received=20)
    assert silence.dead(49.0, expected=True, received=20)


def test_packets_that_arrived_while_none_were_due_do_not_count_as_life() -> None:
    silence = Silence(limit_s=5.0)
    assert not silence.dead(0.0, expected=False, received=1)
    assert not silence.dead(1.0, expected=False, received=50)
    assert not silence.moved
    assert not silence.dead(2.0, expected=True, received=50)  # live from here
    assert not silence.dead(6.9, expected=True, received=50)
    assert silence.dead(7.0, expected=True, received=50)


def test_the_silence_allowed_grows_with_each_silent_connection_in_a_row() -> None:
    dog = Watchdog(silence_s=5.0)
    assert dog.silence_s == 5.0
    dog._silent_in_a_row = 2
    assert dog.silence_s == 20.0
    dog._silent_in_a_row = 10
    assert dog.silence_s == MAX_SILENCE_S
