"""A relayed participant is who its landing worker's handshake says it is, no more.

The home worker believes the visitor (account, signed device cookie, address) that the
worker the WebSocket landed on read at the handshake: a guest removed from a meeting cannot
come back through the other worker, with its device from a new address, or from its address
without the device; the request's own ``device`` counts for nothing there either.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from mosaic.client import join, parse_join_url
from mosaic.security.device import DEVICE_COOKIE
from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.api import signup
from tests.helpers.cluster_nodes import Node, workers_of_one_machine
from tests.helpers.redis import RedisServer


@pytest.fixture
def nodes(tmp_path: Path, redis_server: RedisServer) -> Iterator[list[Node]]:
    with workers_of_one_machine(
        tmp_path / "data", redis_server.url, "--trusted-proxies", "127.0.0.1"
    ) as running:
        yield running


async def knock(
    node: Node, join_url: str, address: str, cookies: dict[str, str] | None = None
) -> tuple[Any, dict[str, Any], str | None]:
    """A raw join through one node from a chosen address: (connection, answer, device cookie)."""
    url, meeting_id, passcode = parse_join_url(node.link(join_url))
    headers = {"X-Forwarded-For": address}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    connection = await websockets.connect(
        url, subprotocols=[SUBPROTOCOL], additional_headers=headers
    )
    device = (cookies or {}).get(DEVICE_COOKIE)
    assert connection.response is not None
    for value in connection.response.headers.get_all("Set-Cookie"):
        if value.startswith(DEVICE_COOKIE + "="):
            device = value.split(";", 1)[0].split("=", 1)[1]
    await connection.send(
        json.dumps(
            {
                "type": "join",
                "id": 1,
                "meeting": meeting_id,
                "name": "Troll",
                "passcode": passcode,
                "device": "a-device-of-my-choosing-0123456789",
            }
        )
    )
    async with asyncio.timeout(10):
        async for text in connection:
            answer = json.loads(text)
            if answer.get("id") == 1:
                return connection, answer, device
    raise AssertionError("no answer")


async def test_a_removed_guest_cannot_return_through_the_other_worker(
    nodes: list[Node],
) -> None:
    host = await signup(nodes[0].url)
    meeting = await host.create_meeting(waiting_room=False)
    boss = await join(
        nodes[0].link(meeting["join_url"]), name="Host", cookies=host.cookies, reconnect=False
    )
    async with boss:
        troll, answer, device = await knock(nodes[1], meeting["join_url"], "203.0.113.7")
        assert answer["result"]["state"] == "joined" and device
        troll_id = answer["result"]["self"]["id"]
        await boss.wait_until(lambda: troll_id in boss.participants)
        await boss.request("remove", participant=troll_id)
        await troll.close()
        for node in nodes:  # one of the two relays to the home, whichever it is
            # Its device, from a new address.
            back, answer, _ = await knock(
                node, meeting["join_url"], "203.0.113.99", {DEVICE_COOKIE: device}
            )
            assert answer.get("reason") == "removed", (node.worker, answer)
            await back.close()
            # Its address, without the device (claiming one of its choosing).
            back, answer, _ = await knock(node, meeting["join_url"], "203.0.113.7")
            assert answer.get("reason") == "removed", (node.worker, answer)
            await back.close()
    await host.client.aclose()
