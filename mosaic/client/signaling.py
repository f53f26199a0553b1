"""The client side of the signaling protocol (mosaic.v1), as the web client speaks it."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from mosaic.signaling.protocol import SUBPROTOCOL

Event = dict[str, Any]
Handler = Callable[[Event], Any]


class SignalingError(Exception):
    """An ``error`` frame answering one of our requests."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class SignalingClient:
    def __init__(
        self, url: str, *, cookies: dict[str, str] | None = None, origin: str | None = None
    ) -> None:
        self.url = url
        self.cookies = cookies or {}
        self.origin = origin
        self.events: list[Event] = []
        self.closed = asyncio.Event()
        self._connection: ClientConnection | None = None
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._handler_tasks: set[asyncio.Future[Any]] = set()

    async def connect(self) -> None:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self._connection = await websockets.connect(
            self.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            origin=self.origin,  # type: ignore[arg-type]
            max_size=2**20,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._connection is not None
        try:
            async for text in self._connection:
                self._receive(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(SignalingError("closed", "connection closed"))
            self._wake()

    def _receive(self, frame: Event) -> None:
        kind = frame.get("type")
        request_id = frame.get("id")
        if kind in ("reply", "error") and request_id in self._pending:
            future = self._pending.pop(request_id)
            if kind == "reply":
                future.set_result(frame["result"])
            else:
                future.set_exception(SignalingError(frame["code"], frame["message"]))
            return
        self.events.append(frame)
        for handler in self._handlers.get(str(kind), []) + self._handlers.get("*", []):
            result = handler(frame)
            if asyncio.iscoroutine(result):
                task = asyncio.ensure_future(result)
                self._handler_tasks.add(task)
                task.add_done_callback(self._handler_tasks.discard)
        self._wake()

    def _wake(self) -> None:
        """Wake everyone waiting for a change (see `changed`)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        """Return after the next frame arrives or the connection closes."""
        await self._changed.wait()

    async def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Send a request; return its reply's result or raise `SignalingError`."""
        return await self.send_raw({"type": kind, **fields})

    async def send_raw(self, frame: dict[str, Any]) -> dict[str, Any]:
        if self._connection is None or self.closed.is_set():
            raise SignalingError("closed", "not connected")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        await self._connection.send(json.dumps({"id": request_id, **frame}))
        return await future

    async def send_text(self, text: str | bytes) -> None:
        """Send an arbitrary frame, valid or not (for tests of the server's defences)."""
        assert self._connection is not None
        await self._connection.send(text)

    def on(self, kind: str, handler: Handler) -> None:
        self._handlers.setdefault(kind, []).append(handler)

    async def wait_for(
        self,
        kind: str,
        predicate: Callable[[Event], bool] | None = None,
        timeout: float = 10.0,
        since: int = 0,
    ) -> Event:
        """The first event of this type (from index ``since``) that satisfies ``predicate``."""

        def find() -> Event | None:
            for event in self.events[since:]:
                if event.get("type") == kind and (predicate is None or predicate(event)):
                    return event
            return None

        async with asyncio.timeout(timeout):
            while (found := find()) is None:
                if self.closed.is_set():
                    raise SignalingError("closed", f"closed while waiting for {kind}")
                await self.changed()
            return found

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
