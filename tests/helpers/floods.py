"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import json

import websockets
from websockets.asyncio.client import ClientConnection

from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.server import MosaicServer


def ws_url(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def open_socket(
    server: MosaicServer, address: str | None = None, cookies: dict[str, str] | None = None
) -> ClientConnection:
    headers = {}
    if address is not None:
        headers["X-Forwarded-For"] = address
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return await websockets.connect(
        ws_url(server),
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        additional_headers=headers,
    )


async def guest_joins(server: MosaicServer, meeting: str, name: str) -> str:
    """A guest joins on a socket of its own and hangs up; returns its state."""
    async with await open_socket(server) as sock:
        await sock.send(json.dumps({"id": 1, "type": "join", "meeting": meeting, "name": name}))
        while True:
            answer = json.loads(await sock.recv())
            if answer.get("id") == 1:
                assert answer["type"] == "reply", answer
                return str(answer["result"]["state"])
