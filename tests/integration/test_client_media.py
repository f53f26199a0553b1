"""The Python client's media: every slot it is given plays, and a connection that dies while
ICE stays up is replaced."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest
from aiortc import RTCPeerConnection

from mosaic.client import Participant, join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import Account, signup
from tests.helpers.inprocess import end_server_dtls, serve_services_in_process
from tests.helpers.server import MosaicServer

LOOPBACK = ["127.0.0.1"]


async def decoded_frames(viewer: Participant, publisher_id: str, count: int) -> int:
    """Decode ``count`` frames of someone's camera; return the width of the last one."""
    await viewer.wait_until(lambda: viewer.track_of(publisher_id) is not None, timeout=15)
    track = viewer.track_of(publisher_id)
    assert track is not None
    width = 0
    for _ in range(count):
        frame = await asyncio.wait_for(track.recv(), 10)
        width = frame.width
    return width


async def test_a_late_joiner_decodes_every_camera_already_published(
    server: MosaicServer, host: Account
) -> None:
    """Three people publish before the viewer joins: its first offer carries three video
    slots at once, and each must be decoded (with aiortc's default "balanced" bundle policy
    the second and third slots were left on a transport that bundling then stopped: their
    receivers never started and their packets reached the first slot's receiver)."""
    created = await host.create_meeting(waiting_room=False)
    publishers: list[Participant] = []
    async with contextlib.AsyncExitStack() as stack:
        for index, name in enumerate(("Ann", "Bea", "Cid")):
            publisher = await join(
                created["join_url"],
                name=name,
                cookies=host.cookies if index == 0 else None,
                local_addresses=LOOPBACK,
            )
            await stack.enter_async_context(publisher)
            await publisher.publish(
                audio=ToneAudioTrack(300 + 100 * index),
                video=PatternVideoTrack(width=320, height=180, fps=10, shade=60 * index),
            )
            publishers.append(publisher)
        viewer = await join(created["join_url"], name="Viewer", local_addresses=LOOPBACK)
        await stack.enter_async_context(viewer)
        widths = await asyncio.gather(
            *(decoded_frames(viewer, publisher.id or "", 5) for publisher in publishers)
        )
        assert widths == [320, 320, 320]
        transports = {
            t.receiver.transport
            for t in viewer.media.subscriber.getTransceivers()  # type: ignore[union-attr]
        }
        assert len(transports) == 1  # one bundled transport, as the server offers it


@pytest.mark.parametrize("pc", ["subscribe", "publish"])
async def test_a_connection_whose_server_end_died_is_replaced(tmp_path: Path, pc: str) -> None:
    """The server's end of a media connection stops while its ICE keeps answering (the
    connection still reads "connected"): Bob's subscribe end stops sending, or Ann's publish
    end sends no receiver reports and forwards nothing more of her. The client notices the
    silence and Bob sees Ann's video again, on a new connection, within about ten seconds."""
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        a = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with a, b:
            await a.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
            assert await decoded_frames(b, a.id or "", 3) == 320
            victim = b if pc == "subscribe" else a

            def connection() -> RTCPeerConnection | None:
                media = victim.media
                return media.subscriber if pc == "subscribe" else media.publisher

            broken = connection()
            end_server_dtls(services, meeting_id, victim.id or "", pc)
            cut = time.monotonic()
            await asyncio.sleep(2.0)
            assert broken is not None and broken.connectionState == "connected"  # ICE is up
            await victim.wait_until(lambda: victim.media.watchdogs[pc].replaced == 1, timeout=10)
            assert await decoded_frames(b, a.id or "", 3) == 320
            assert time.monotonic() - cut < 12
            assert connection() is not broken and broken.connectionState == "closed"
        await host.client.aclose()
