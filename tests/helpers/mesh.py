"""Two or three slices of one meeting in this process: a router and a `RelayMesh` each, joined
by real relay links on loopback UDP.

The routers run on the in-memory transports of tests/helpers/sfu.py and one clock moved by
hand; the meshes' `post` messages go through one ordered queue per pair of slices (as the
cluster's bus delivers them: later, in order, as JSON), and a pair may be given a `LossyWire`
(tests/helpers/relay.py) in the middle of its UDP path: the harness then rewrites the ports the
hellos announce so that each side sends through the wire.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from mosaic.media.sfu.mesh import MeshPeer, RelayMesh
from tests.helpers.relay import LossyWire, until
from tests.helpers.sfu import FakeClock, Meeting

HOST = "127.0.0.1"


@dataclass
class _Pair:
    """The UDP path between two slices, when a test puts a lossy wire on it."""

    wire: LossyWire
    ports: dict[str, int] = field(default_factory=dict)  # each side's own relay port
    sends_to: dict[str, int] = field(default_factory=dict)  # the wire's port for each side
    opened: asyncio.Event = field(default_factory=asyncio.Event)


class Slices:
    """Slices named by worker id; ``meetings[w].router`` and ``meshes[w]`` for each."""

    def __init__(
        self,
        names: list[str],
        *,
        secure: bool = False,
        loss: dict[tuple[str, str], float] | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.names = names
        self.secure = secure
        self.meetings = {name: Meeting(clock=self.clock) for name in names}
        self.meshes = {
            name: RelayMesh(
                self.meetings[name].router,
                name,
                self._poster(name),
                host=HOST,
                clock=self.clock,
                ticking=False,
            )
            for name in names
        }
        self.posted: list[tuple[str, str, dict[str, Any]]] = []  # (from, to, message)
        self._queues: dict[tuple[str, str], asyncio.Queue[dict[str, Any]]] = {}
        self._pumps: list[asyncio.Task[None]] = []
        self._pairs: dict[frozenset[str], _Pair] = {
            frozenset(pair): _Pair(LossyWire(rate)) for pair, rate in (loss or {}).items()
        }

    def __getitem__(self, name: str) -> Meeting:
        return self.meetings[name]

    @classmethod
    async def open(cls, names: list[str], **options: Any) -> Slices:
        """Every slice a peer of every other, every participant ``p@w`` placed on ``w``... the
        placement is given by the test (`place`); wait until every relay is up."""
        slices = cls(names, **options)
        peers = [MeshPeer(name, HOST, slices.secure) for name in names]
        for mesh in slices.meshes.values():
            mesh.set_peers(peers)
        await slices.linked()
        return slices

    async def linked(self) -> None:
        await until(
            lambda: all(
                mesh.linked() == set(self.names) - {name} for name, mesh in self.meshes.items()
            )
        )

    def place(self, placement: dict[str, str]) -> None:
        for mesh in self.meshes.values():
            mesh.set_placement(placement)

    def of(self, sender: str, to: str, kind: str) -> list[dict[str, Any]]:
        """The messages of one kind ``sender`` posted to ``to``."""
        return [m for f, t, m in self.posted if f == sender and t == to and m["type"] == kind]

    # -- the bus, in the test -------------------------------------------------------------------

    def _poster(self, sender: str) -> Any:
        def post(to: str, message: dict[str, Any]) -> None:
            message = json.loads(json.dumps(message))  # what crosses a bus: JSON, no objects
            self.posted.append((sender, to, message))
            queue = self._queues.get((sender, to))
            if queue is None:
                queue = self._queues[(sender, to)] = asyncio.Queue()
                self._pumps.append(asyncio.ensure_future(self._pump(sender, to, queue)))
            queue.put_nowait(message)

        return post

    async def _pump(self, sender: str, to: str, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            message = await queue.get()
            pair = self._pairs.get(frozenset((sender, to)))
            if pair is not None and message.get("type") == "hello":
                message = await self._through_wire(pair, sender, to, message)
            self.meshes[to].receive(sender, message)

    async def _through_wire(
        self, pair: _Pair, sender: str, to: str, message: dict[str, Any]
    ) -> dict[str, Any]:
        """Open the lossy wire once both sides' ports are known; tell ``to`` to send to the
        wire's side for it (the datagrams it gets come from there)."""
        pair.ports[sender] = message["port"]
        if len(pair.ports) == 2 and not pair.opened.is_set():
            first, second = sorted(pair.ports)
            a, b = await pair.wire.open((HOST, pair.ports[first]), (HOST, pair.ports[second]))
            pair.sends_to = {first: a[1], second: b[1]}
            pair.opened.set()
        await pair.opened.wait()
        return {**message, "port": pair.sends_to[to]}

    def wire(self, first: str, second: str) -> LossyWire:
        return self._pairs[frozenset((first, second))].wire

    # -- the beat ---------------------------------------------------------------------------------

    def tick(self, seconds: float = 0.05) -> None:
        """Move the shared clock on; run every router's and every mesh's beat."""
        for _ in range(max(1, round(seconds / 0.05))):
            self.clock.advance(0.05)
            for name in self.names:
                self.meetings[name].router.tick()
                self.meshes[name].tick(self.clock())

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        for mesh in self.meshes.values():
            await mesh.close()
        for meeting in self.meetings.values():
            await meeting.router.close()
        for pair in self._pairs.values():
            pair.wire.close()
