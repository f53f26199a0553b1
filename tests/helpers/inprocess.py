"""A Mosaic server inside the test process, for tests that must look inside the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import uvicorn

from mosaic.app import create_app
from mosaic.config import Settings
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.services import Services
from tests.helpers.server import free_port


@asynccontextmanager
async def serve_in_process(data_dir: Path, **settings: Any) -> AsyncIterator[str]:
    """``settings``: `Settings` fields beyond the test defaults (``resume_grace_s=0.3``)."""
    async with serve_services_in_process(data_dir, **settings) as (base_url, _):
        yield base_url


@asynccontextmanager
async def serve_services_in_process(
    data_dir: Path, **settings: Any
) -> AsyncIterator[tuple[str, Services]]:
    """The server's URL and its running services (rooms, their media), to look inside."""
    port = free_port()
    settings = Settings(
        port=port,
        data_dir=data_dir,
        media_addresses=["127.0.0.1"],
        join_rate_per_minute=1e5,
        websockets_per_address=100_000,  # every participant comes from 127.0.0.1
        **settings,
    )
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield settings.base_url, app.state.services
    finally:
        server.should_exit = True
        await task


def end_server_dtls(services: Services, meeting_id: str, participant_id: str, pc: str) -> None:
    """End the server's DTLS task of one participant's connection ("publish" or "subscribe"),
    as an exception in its receive loop did (issue 11): the server's end stops sending, its
    ICE keeps answering checks, and the client's connection still reads "connected"."""
    room = services.rooms.get(meeting_id)
    assert room is not None and room.media is not None
    router = room.media
    if pc == "subscribe":
        transport = router.subscribers[participant_id].peer.transport  # type: ignore[attr-defined]
    else:
        transport = router.publishers[participant_id].transport  # type: ignore[attr-defined]
    task = transport.dtls._task
    assert task is not None and not task.done()
    task.cancel()


def subscribe_peer(services: Services, meeting_id: str, participant_id: str) -> SubscribePeer:
    """The server's end of one participant's subscribe connection (its estimate, counters)."""
    room = services.rooms.get(meeting_id)
    assert room is not None and room.media is not None
    peer = room.media.subscribers[participant_id].peer
    assert isinstance(peer, SubscribePeer)
    return peer
