"""What a `Session` talks through: a client's WebSocket here, or a bus channel to the worker the
client's WebSocket landed on (mosaic.signaling.relay). The session neither knows nor cares
which: it reads frames, writes frames, and hangs up."""

from __future__ import annotations

import contextlib
from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from mosaic.signaling.protocol import SUBPROTOCOL

# No closing handshake: the connection dropped (RFC 6455 section 7.4.1).
CLOSE_ABNORMAL = 1006


class SocketClosed(Exception):
    """The other side is gone; ``code`` is its close code (1006: it just dropped)."""

    def __init__(self, code: int = CLOSE_ABNORMAL) -> None:
        super().__init__(code)
        self.code = code


class SignalingSocket(Protocol):
    """One client's signaling connection, as a session uses it."""

    @property
    def connected(self) -> bool:
        """Whether frames may still be sent and the socket closed by us."""
        ...

    async def accept(self) -> None:
        """Complete the opening handshake (does nothing the second time)."""

    async def receive(self) -> str | bytes:
        """The next frame from the client; raises `SocketClosed` once it is gone."""
        ...

    async def send_text(self, text: str) -> None:
        """Send one frame; raises if the connection is gone."""

    async def close(self, code: int, reason: str) -> None:
        """Hang up (nothing happens if already closed)."""


class WebSocketChannel:
    """A Starlette WebSocket as a `SignalingSocket` (protocol ``mosaic.v1``)."""

    def __init__(
        self, websocket: WebSocket, accept_headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.websocket = websocket
        # Sent with the handshake's answer: a new device cookie for a client without one.
        self.accept_headers = accept_headers or []

    @property
    def connected(self) -> bool:
        return self.websocket.application_state is WebSocketState.CONNECTED

    async def accept(self) -> None:
        if self.websocket.application_state is WebSocketState.CONNECTING:
            await self.websocket.accept(subprotocol=SUBPROTOCOL, headers=self.accept_headers)

    async def receive(self) -> str | bytes:
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            raise SocketClosed() from None
        if message["type"] == "websocket.disconnect":
            raise SocketClosed(message.get("code") or CLOSE_ABNORMAL)
        text = message.get("text")
        return text if text is not None else (message.get("bytes") or b"")

    async def send_text(self, text: str) -> None:
        await self.websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        if self.connected:
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await self.websocket.close(code=code, reason=reason)
