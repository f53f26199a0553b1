"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import json
import time

import httpx
import websockets

from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.server import MosaicServer

FREE_FAILURES = 5  # the default --join-free-failures


def ws(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def join_from(
    server: MosaicServer, address: str, meeting: str, passcode: str | None
) -> tuple[str, float]:
    """One join attempt on a socket of its own, seen by the server as coming from ``address``;
    returns how it ended ("joined", "waiting", an error code, or "closed") and its time."""
    started = time.perf_counter()
    try:
        async with websockets.connect(
            ws(server),
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            additional_headers={"X-Forwarded-For": address},
        ) as sock:
            frame = {"id": 1, "type": "join", "meeting": meeting, "name": "Guest"}
            await sock.send(json.dumps({**frame, "passcode": passcode}))
            while True:
                answer = json.loads(await sock.recv())
                if answer.get("id") == 1 and answer["type"] == "error":
                    return answer["code"], time.perf_counter() - started
                if answer.get("id") == 1 and answer["type"] == "reply":
                    state = answer["result"].get("state", "joined")
                    return state, time.perf_counter() - started
    except (websockets.ConnectionClosed, websockets.InvalidStatus):
        return "closed", time.perf_counter() - started


async def login_from(
    client: httpx.AsyncClient, address: str, email: str, password: str
) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        headers={"X-Forwarded-For": address},
    )
    return response.status_code, time.perf_counter() - started
