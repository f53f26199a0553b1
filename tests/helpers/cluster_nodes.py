"""Several `mosaic serve` processes forming one cluster (one Redis), for cluster tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from mosaic.client import parse_join_url
from tests.helpers.server import MosaicServer

# Every test joins from 127.0.0.1: the per-address throttles would refuse the second test.
LIFTED = (
    "--join-rate-per-minute", "100000", "--join-free-failures", "100000",
    "--websockets-per-address", "100000",
)  # fmt: skip


class Node:
    """One `mosaic serve` of the cluster, and the worker id it answers /healthz with."""

    def __init__(self, server: MosaicServer) -> None:
        self.server = server
        self.url = server.url
        self.worker = httpx.get(f"{server.url}/healthz").json()["worker"]

    def link(self, join_url: str) -> str:
        """The invitation, for a client whose WebSocket is to land on this node."""
        _, meeting_id, passcode = parse_join_url(join_url)
        return f"{self.url}/m/{meeting_id}" + (f"#pwd={passcode}" if passcode else "")


def start_nodes(data_dirs: list[Path], *args: str) -> list[Node]:
    servers: list[MosaicServer] = []
    try:
        for data_dir in data_dirs:
            servers.append(MosaicServer(data_dir, *LIFTED, *args).start())
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return [Node(server) for server in servers]


@contextmanager
def workers_of_one_machine(
    data_dir: Path, redis_url: str, *args: str, count: int = 2
) -> Iterator[list[Node]]:
    """``count`` workers sharing one data directory (database and signing key) and Redis."""
    nodes = start_nodes([data_dir] * count, "--redis-url", redis_url, *args)
    try:
        yield nodes
    finally:
        for node in nodes:
            node.server.stop()
