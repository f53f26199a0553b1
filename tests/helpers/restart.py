"""A server a test stops and starts again on the same port and data directory (an upgrade)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.server import MosaicServer


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[MosaicServer]:
    """A server of the test's own; throttles lifted, as every participant comes from
    127.0.0.1."""
    running = MosaicServer(
        tmp_path / "data", "--join-rate-per-minute", "100000", "--join-free-failures", "100000"
    ).start()
    yield running
    running.stop()


async def restart(server: MosaicServer) -> None:
    """SIGTERM (as a service manager stops it), then start again; from a thread, so that the
    test's clients live on meanwhile, as their users' would."""
    assert await asyncio.to_thread(server.stop) == 0
    await asyncio.to_thread(server.start)
