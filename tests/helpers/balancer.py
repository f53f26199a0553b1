"""A TCP load balancer in front of several `mosaic serve` nodes, as HAProxy or nginx would be.

Each new connection goes to the next node in turn; a node that refuses the connection (it
died) is skipped, as a balancer's health check would take it out. Clients keep one address for
the whole service, so that when a node dies, their reconnection reaches a live one -- which is
how participants come back after a machine is lost. Media does not pass here: it goes to each
home worker's own UDP ports, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from mosaic.client import parse_join_url
from mosaic.cluster import keys
from tests.helpers.cluster_nodes import Node, start_nodes
from tests.helpers.redis import RedisServer
from tests.helpers.server import free_port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Balancer:
    """Round-robin over ``ports`` on 127.0.0.1, in a thread of its own (its own event loop),
    so that it goes on serving while a test's loop waits."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._turn = itertools.count()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def start(self) -> Balancer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def listen() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
            self._ready.set()

        self._loop.run_until_complete(listen())
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = next(self._turn)
        for attempt in range(len(self.ports)):
            port = self.ports[(first + attempt) % len(self.ports)]
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue  # that node is down: the next one
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        writer.close()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(close(), self._loop)
        self._thread.join(5)


_addresses = itertools.count(40)


def client_address() -> dict[str, str]:
    """Headers naming a client address of its own (TEST-NET-3), as the balancer, a trusted
    proxy, would (so that one guest's address ban does not touch the others)."""
    return {"X-Forwarded-For": f"203.0.113.{next(_addresses)}"}


@dataclass
class Service:
    """Nodes of one cluster behind a balancer, as their users reach them."""

    nodes: list[Node]
    balancer: Balancer
    redis: RedisServer

    def link(self, join_url: str) -> str:
        """The invitation, through the balancer."""
        _, meeting_id, passcode = parse_join_url(join_url)
        return f"{self.balancer.url}/m/{meeting_id}" + (f"#pwd={passcode}" if passcode else "")

    async def home_of(self, meeting_id: str) -> Node:
        """The node that is the meeting's home now (as Redis says)."""
        client = aioredis.Redis.from_url(self.redis.url)
        try:
            home = await client.get(keys.home(meeting_id))
        finally:
            await client.aclose()
        assert home is not None
        return next(node for node in self.nodes if node.worker == home.decode())


@contextmanager
def balanced_workers(data_dir: Path, redis: RedisServer, count: int = 2) -> Iterator[Service]:
    """``count`` workers of one machine (one data directory) behind a balancer."""
    nodes = start_nodes(
        [data_dir] * count, "--redis-url", redis.url, "--trusted-proxies", "127.0.0.1"
    )
    try:
        balancer = Balancer([node.server.port for node in nodes]).start()
        try:
            yield Service(nodes, balancer, redis)
        finally:
            balancer.stop()
    finally:
        for node in nodes:
            node.server.stop()
