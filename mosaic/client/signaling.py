"""The client side of the signaling protocol (mosaic.v1), as the web client speaks it.

A connection that drops (the network, or the server restarting for an upgrade) comes back by
itself: the client reconnects with growing, jittered waits and sends ``resume`` with the last
resume token the server gave it, for as long as such a token may still be good. Meanwhile its
state is ``reconnecting`` and requests fail at once (nothing is sent on a socket that has not
re-joined); programs hear of each change as a local ``connection`` event, and of the way back
as a local ``resumed`` event carrying the resume reply (local events go to handlers, see `on`;
`events` holds what the server sent). Only the server's word ends it for
good: a clean close (left, ended), a policy close (removed, denied), a newer connection taking
over, or a refused resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from mosaic.tasks import TaskSet

# The protocol version this client speaks, named in the WebSocket handshake. The client is a
# program of its own and imports nothing of the server; a test holds it to the server's
# `mosaic.signaling.protocol.SUBPROTOCOL`.
SUBPROTOCOL = "mosaic.v1"

Event = dict[str, Any]
Handler = Callable[[Event], Any]

# Close codes after which there is nothing to come back to: a clean close (we left, or the
# meeting ended), a policy close (removed, denied, abuse), a newer connection of ours took over.
FINAL_CLOSE_CODES = frozenset({1000, 1008, 4000})
# Answers to ``resume`` that another try will not change (a token forged, expired or of
# someone who left; removed; the meeting ended).
FINAL_REFUSALS = frozenset({"unauthorized", "not_found", "forbidden", "bad_request"})
# Waits between tries: 0.25 s doubling to 2 s, each ±25%, so that a restarted server is
# found within a couple of seconds of listening again and a thousand clients do not knock
# in step. Tries stop when the server's tokens would have expired anyway.
RECONNECT_FIRST_WAIT_S = 0.25
RECONNECT_MAX_WAIT_S = 2.0
RECONNECT_FOR_S = 300.0
CONNECT_TIMEOUT_S = 3.0
# A dead network sends no close: a WebSocket ping unanswered this long ends the connection.
PING_INTERVAL_S = 5.0
PING_TIMEOUT_S = 10.0

# What `SignalingClient.state` may be.
NEW, CONNECTED, RECONNECTING, CLOSED = "new", "connected", "reconnecting", "closed"


class SignalingError(Exception):
    """An ``error`` frame answering one of our requests (or ``closed``/``reconnecting`` when
    there was no connection to send it on)."""

    def __init__(self, code: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.reason = reason


class SignalingClient:
    def __init__(
        self,
        url: str,
        *,
        cookies: dict[str, str] | None = None,
        origin: str | None = None,
        reconnect: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.url = url
        self.cookies = cookies or {}
        # Sent with every handshake, the reconnections' too (behind a proxy of one's own).
        self.headers = headers or {}
        self.origin = origin
        # Whether a dropped connection is resumed by itself (needs a resume token).
        self.reconnect = reconnect
        self.events: list[Event] = []
        # Set once the connection is over for good (never while reconnecting).
        self.closed = asyncio.Event()
        self.state = NEW
        # The latest resume token the server gave (join, admitted, token events); secret.
        self.resume_token: str | None = None
        # The error that ended the connection for good, if a resume was refused.
        self.refusal: SignalingError | None = None
        self.reconnects = 0  # times a dropped connection came back
        self._connection: ClientConnection | None = None
        self._next_id = 1
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._handlers: dict[str, list[Handler]] = {}
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._handler_tasks = TaskSet()
        self._closing = False

    async def connect(self) -> None:
        await self._open()
        self._set_state(CONNECTED)

    async def _open(self) -> None:
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = await websockets.connect(
            self.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            origin=self.origin,  # type: ignore[arg-type]
            max_size=2**20,
            open_timeout=CONNECT_TIMEOUT_S,
            ping_interval=PING_INTERVAL_S,
            ping_timeout=PING_TIMEOUT_S,
        )
        self._connection = connection
        self._reader = asyncio.create_task(self._read(connection))

    async def _read(self, connection: ClientConnection) -> None:
        try:
            async for text in connection:
                self._receive(json.loads(text))
        except websockets.ConnectionClosed:
            pass
        finally:
            self._lost(connection)

    def _lost(self, connection: ClientConnection) -> None:
        """A connection ended: fail what waited on it; then come back, or stop for good."""
        if connection is not self._connection:
            return
        self._connection = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(SignalingError("closed", "connection closed"))
        self._pending.clear()
        if self._reconnector is not None and not self._reconnector.done():
            pass  # a try of the reconnect loop failed: the loop carries on
        elif (
            self._closing
            or not self.reconnect
            or self.resume_token is None
            or connection.close_code in FINAL_CLOSE_CODES
            or self.state == NEW
        ):
            self._finish()
        else:
            self._set_state(RECONNECTING)
            self._reconnector = asyncio.create_task(self._come_back())
        self._wake()

    async def _come_back(self) -> None:
        """Reconnect and resume, waiting longer after each failed try."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RECONNECT_FOR_S
        wait = RECONNECT_FIRST_WAIT_S
        while not self._closing:
            try:
                await self._open()
                result = await self.send_raw({"type": "resume", "token": self.resume_token})
            except SignalingError as error:
                if error.code in FINAL_REFUSALS:
                    self.refusal = error
                    break
            except (OSError, TimeoutError, websockets.WebSocketException):
                pass  # the server is not back yet
            else:
                self.reconnects += 1
                self._set_state(CONNECTED)
                self._dispatch({"type": "resumed", **result}, record=False)
                return
            await self._drop()
            if loop.time() + wait > deadline:
                break
            await asyncio.sleep(wait * random.uniform(0.75, 1.25))
            wait = min(wait * 2, RECONNECT_MAX_WAIT_S)
        await self._drop()
        self._finish()

    async def _drop(self) -> None:
        """Close the current connection, if any, without starting to reconnect."""
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
            self._lost(connection)

    def _finish(self) -> None:
        self._set_state(CLOSED)
        self.closed.set()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self._dispatch({"type": "connection", "state": state}, record=False)

    def _receive(self, frame: Event) -> None:
        kind = frame.get("type")
        request_id = frame.get("id")
        if kind in ("reply", "error") and request_id in self._pending:
            future = self._pending.pop(request_id)
            if kind == "reply":
                result = frame["result"]
                if isinstance(result, dict) and result.get("resume_token"):
                    self.resume_token = result["resume_token"]
                future.set_result(result)
            else:
                future.set_exception(
                    SignalingError(frame["code"], frame["message"], frame.get("reason"))
                )
            return
        if frame.get("resume_token"):
            self.resume_token = frame["resume_token"]
        self._dispatch(frame)

    def _dispatch(self, frame: Event, record: bool = True) -> None:
        """Call an event's handlers; a server's event is also recorded in `events` (ours,
        ``connection`` and ``resumed``, are not)."""
        if record:
            self.events.append(frame)
        kind = frame.get("type")
        for handler in self._handlers.get(str(kind), []) + self._handlers.get("*", []):
            result = handler(frame)
            if asyncio.iscoroutine(result):
                self._handler_tasks.spawn(result)
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
        if self.state == RECONNECTING and frame.get("type") != "resume":
            # The socket (if any) has not re-joined: the server would only answer
            # "join a meeting first".
            raise SignalingError("reconnecting", "the connection is coming back")
        if self._connection is None or self.closed.is_set():
            raise SignalingError("closed", "not connected")
        request_id = self._next_id
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._connection.send(json.dumps({"id": request_id, **frame}))
        except websockets.ConnectionClosed:
            self._pending.pop(request_id, None)
            _settle(future)
            raise SignalingError("closed", "connection closed") from None
        try:
            return await future
        except asyncio.CancelledError:
            # Cancelled (we left, a timeout) in the same turn of the loop as the connection
            # was lost: the future holds that failure, which nobody else will read.
            self._pending.pop(request_id, None)
            _settle(future)
            raise

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

    def drop(self) -> None:
        """Cut the connection as a failing network would, without a closing handshake
        (tests of reconnecting use it)."""
        if self._connection is not None:
            self._connection.transport.abort()

    async def close(self) -> None:
        """Hang up for good (a clean close: the server ends the participation at once)."""
        self._closing = True
        if self._reconnector is not None and not self._reconnector.done():
            self._reconnector.cancel()
            with contextlib.suppress(BaseException):
                await self._reconnector
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        self._finish()


def _settle(future: asyncio.Future[Any]) -> None:
    """Cancel a request's future nobody awaits any more, or read the failure it already holds
    (asyncio reports a failure never read, with a traceback, when the future is collected)."""
    if not future.cancel() and not future.cancelled():
        future.exception()
