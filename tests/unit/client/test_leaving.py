"""A Python client that leaves while it is still talking to the server lets go quietly: what
was in flight ends, and asyncio never reports an exception nobody read ("Future exception
was never retrieved", "Task exception was never retrieved", each with a traceback). A join
storm of bots leaving (`python -m bench.handshakes`) printed 29 of them in 40 rounds."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from websockets.asyncio.server import ServerConnection, serve

from mosaic.client.media import ClientMedia
from mosaic.client.signaling import SUBPROTOCOL, SignalingClient, SignalingError

LOOPBACK = ["127.0.0.1"]


@pytest.fixture
async def unread() -> list[dict[str, Any]]:
    """What the running loop reports as never read (its exception handler's calls)."""
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
    return reported


@pytest.fixture
async def silent_server() -> AsyncIterator[str]:
    """A WebSocket server that takes every frame and answers none (a request stays open)."""

    async def listen(connection: ServerConnection) -> None:
        async for _ in connection:
            pass

    async with serve(listen, "127.0.0.1", 0, subprotocols=[SUBPROTOCOL]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws"


async def test_a_request_sent_as_the_client_hangs_up_leaves_nothing_unread(
    silent_server: str, unread: list[dict[str, Any]]
) -> None:
    client = SignalingClient(silent_server, reconnect=False)
    await client.connect()
    hanging_up = asyncio.create_task(client.close())
    await asyncio.sleep(0)  # our close frame is out: the socket is closing
    # The request waits for the socket to close, which fails it (the connection is lost)
    # before the socket's own error reaches it.
    with pytest.raises(SignalingError, match="closed"):
        await client.request("chat", text="hello")
    await hanging_up
    gc.collect()
    assert unread == []


async def server_offer() -> tuple[RTCPeerConnection, str]:
    """A subscribe offer as the server makes one: a real aiortc peer's, one video to send."""
    server = RTCPeerConnection()
    server.addTransceiver("video", direction="sendonly")
    await server.setLocalDescription(await server.createOffer())
    return server, server.localDescription.sdp


@pytest.mark.parametrize("closer", ["the client leaving", "aiortc, the peer gone"])
async def test_an_offer_being_answered_when_its_connection_closes_is_let_go(
    closer: str, unread: list[dict[str, Any]]
) -> None:
    server, sdp = await server_offer()
    try:
        # Close after every number of turns of the loop the answer may have reached.
        for turns in range(12):
            media = ClientMedia(SignalingClient("ws://127.0.0.1:9/ws"), local_addresses=LOOPBACK)
            answering = asyncio.ensure_future(media._on_offer({"type": "offer", "sdp": sdp}))
            for _ in range(turns):
                await asyncio.sleep(0)
            if closer == "the client leaving":
                await media.close()
            elif media.subscriber is not None:
                # What aiortc does by itself once every DTLS transport of it is closed.
                await media.subscriber.close()
            await answering  # let go (logged), never raised
            left_open = media.subscriber and media.subscriber.connectionState != "closed"
            assert not left_open or closer != "the client leaving", turns
            await media.close()
    finally:
        await server.close()
    gc.collect()
    assert unread == []
