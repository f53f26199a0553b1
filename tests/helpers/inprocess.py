"""A Mosaic server inside the test process, for tests that must look inside the server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn

from mosaic.app import create_app
from mosaic.config import Settings
from tests.helpers.server import free_port


@asynccontextmanager
async def serve_in_process(data_dir: Path) -> AsyncIterator[str]:
    port = free_port()
    settings = Settings(
        port=port, data_dir=data_dir, media_addresses=["127.0.0.1"], join_rate_per_minute=1e5
    )
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_config=None, lifespan="on"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        await task
