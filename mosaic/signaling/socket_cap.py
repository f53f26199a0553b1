"""A cap on the signaling WebSockets one client address holds open.

Every open socket is a file descriptor, a task and some buffers. A thousand idle sockets from
one address used to exhaust a 1,024-file limit, after which health checks and sign-ups timed
out for everyone. A person needs one socket per meeting tab; 20 (the default) leave room for
a household or a small office behind one address, and a school behind one NAT should raise it
(``--websockets-per-address``). Sockets that never join are closed by the session's join
deadline (see `mosaic.signaling.session`); this cap bounds what one address holds meanwhile.
"""

from __future__ import annotations

from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from mosaic.security.throttle import source_key
from mosaic.signaling.protocol import SUBPROTOCOL

# WebSocket close codes 4000-4999 are the application's: HTTP's 429 and 408, made codes.
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_JOIN_DEADLINE = 4408


class SocketCap:
    """ASGI middleware: a WebSocket on ``path`` beyond ``per_address`` open ones from the same
    source (an IPv4 address, an IPv6 /64) is accepted and closed at once with code 4429, a
    typed answer a client can show, instead of a bare handshake failure."""

    def __init__(self, app: ASGIApp, *, per_address: int, path: str = "/ws") -> None:
        self.app = app
        self.per_address = per_address
        self.path = path
        self.open: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        # The address as the server believes it (behind --trusted-proxies, the forwarded one).
        source = source_key(client[0] if client else "?")
        if self.open[source] >= self.per_address:
            await self._refuse(scope, receive, send)
            return
        self.open[source] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.open[source] -= 1
            if self.open[source] <= 0:
                del self.open[source]

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        accept: dict[str, object] = {"type": "websocket.accept"}
        if SUBPROTOCOL in scope.get("subprotocols", []):
            accept["subprotocol"] = SUBPROTOCOL
        await send(accept)
        await send(
            {
                "type": "websocket.close",
                "code": CLOSE_TOO_MANY_SOCKETS,
                "reason": "too many connections from your address",
            }
        )
