"""Two routers joined by a real relay (`mosaic.media.sfu.relay`) on real UDP sockets.

Both routers run in the test's process (on the in-memory publisher and subscriber transports
of tests/helpers/sfu.py and one clock moved by hand); between them every relayed packet and
every piece of feedback crosses loopback UDP, through a `LossyWire` when a test wants loss:
a UDP forwarder in the middle, which drops what its random draw says.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mosaic.domain.roster import Source
from mosaic.media.sfu.relay import Address, RelayedTrack, RelayLink
from mosaic.media.sfu.up import UpStream, UpTrack
from tests.helpers.sfu import Browser, FakeTransport, Meeting


class _Side(asyncio.DatagramProtocol):
    def __init__(self, wire: LossyWire, name: str) -> None:
        self.wire = wire
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.wire.forward(self.name, data, addr)


class LossyWire:
    """A UDP forwarder between two relay ends: A sends to ``a_side``, B to ``b_side``; each
    datagram is dropped with probability ``loss`` (a seeded draw, so a run can be repeated)."""

    def __init__(self, loss: float, seed: int = 14) -> None:
        self.loss = loss
        self.random = random.Random(seed)
        self.dropped = 0
        self.sides: dict[str, _Side] = {}
        self.ends: dict[str, Address] = {}

    async def open(self, a: Address, b: Address) -> tuple[Address, Address]:
        """Forward between ``a`` and ``b``; return the addresses A and B send to."""
        loop = asyncio.get_running_loop()
        self.ends = {"a": a, "b": b}
        addresses = []
        for name in ("a", "b"):
            _, side = await loop.create_datagram_endpoint(
                lambda name=name: _Side(self, name),  # type: ignore[misc]
                local_addr=("127.0.0.1", 0),
            )
            self.sides[name] = side
            assert side.transport is not None
            addresses.append(side.transport.get_extra_info("sockname")[:2])
        return addresses[0], addresses[1]

    def forward(self, name: str, data: bytes, addr: Any) -> None:
        if tuple(addr[:2]) != self.ends[name]:
            return
        if self.loss and self.random.random() < self.loss:
            self.dropped += 1
            return
        other = "b" if name == "a" else "a"
        transport = self.sides[other].transport
        assert transport is not None
        transport.sendto(data, self.ends[other])

    def close(self) -> None:
        for side in self.sides.values():
            if side.transport is not None:
                side.transport.close()


@dataclass
class RelayedMeeting:
    """Router A shows Ann's camera; a relay takes its full layer into router B."""

    a: Meeting
    b: Meeting
    out: RelayLink  # A's end
    into: RelayLink  # B's end
    ann: Browser
    camera: UpTrack
    full: UpStream
    relayed: RelayedTrack
    relayed_track: UpTrack
    wire: LossyWire | None

    def close(self) -> None:
        self.out.close()
        self.into.close()
        if self.wire is not None:
            self.wire.close()


async def relayed_meeting(
    *, secure: bool = False, loss: float | None = None, wrong_key: bool = False
) -> RelayedMeeting:
    """Two routers, a relay between them (encrypted if ``secure``, through a lossy wire if
    ``loss`` is given), and Ann's full camera layer relayed from A to B."""
    a = Meeting()
    b = Meeting(clock=a.clock)
    handed: dict[str, bytes] = {}

    def hand_over(name: str) -> Callable[[bytes], Awaitable[None]]:
        async def give(key: bytes) -> None:  # the cluster's bus, in the test
            handed[name] = key

        return give

    out = RelayLink(a.clock, secure=secure, hand_over=hand_over("a") if secure else None)
    into = RelayLink(a.clock, secure=secure, hand_over=hand_over("b") if secure else None)
    a_address = await out.open(ticking=False)
    b_address = await into.open(ticking=False)
    wire = None
    if loss is not None:
        wire = LossyWire(loss)
        a_sends_to, b_sends_to = await wire.open(a_address, b_address)
        out.connect(a_sends_to)
        into.connect(b_sends_to)
    else:
        out.connect(b_address)
        into.connect(a_address)
    if secure:
        into.accept_key(handed["b"] if wrong_key else handed["a"])
        out.accept_key(handed["b"])
    ann = await a.publish("ann")
    ann.all_layers(keyframe=True)
    camera = a.router.tracks[("ann", Source.CAMERA)]
    full = camera.streams[2]
    relayed = out.send(camera, [full], a.clock())
    relayed_track = into.receive(RelayedTrack.from_json(relayed.to_json()))
    b.router.add_track(relayed_track)
    return RelayedMeeting(a, b, out, into, ann, camera, full, relayed, relayed_track, wire)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Let the sockets run until ``condition`` holds (UDP on loopback: milliseconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


def sequence_numbers(transport: FakeTransport) -> list[int]:
    return [header.sequence_number for header in transport.headers()]
