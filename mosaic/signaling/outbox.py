"""Frames on their way to one client, written by a task of their own.

The room never awaits a slow client: it drops a frame in the outbox and moves on. A client that
falls this far behind is disconnected rather than allowed to grow the server's memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

MAX_QUEUED_FRAMES = 2000


def encode(frame: dict[str, Any]) -> str:
    """JSON for the wire; done once per event, however many clients receive it."""
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class Outbox:
    def __init__(self, write: Callable[[str], Awaitable[None]]) -> None:
        self._write = write
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(MAX_QUEUED_FRAMES)
        self._task: asyncio.Task[None] | None = None
        self.overflowed = asyncio.Event()
        self.sent = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump())

    def put(self, text: str) -> None:
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.overflowed.set()

    def send(self, frame: dict[str, Any]) -> None:
        self.put(encode(frame))

    async def _pump(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                await self._write(text)
            except Exception:  # the connection is gone; the reader notices and cleans up
                self.overflowed.set()
                return
            self.sent += 1

    async def close(self, flush_timeout: float = 1.0) -> None:
        """Send what is queued (briefly), then stop."""
        if self._task is None:
            return
        try:
            self._queue.put_nowait(None)
            await asyncio.wait_for(asyncio.shield(self._task), flush_timeout)
        except (TimeoutError, asyncio.QueueFull):
            self._task.cancel()
