"""Media through the SFU between Python participants (aiortc peers), and what it refuses."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket

from mosaic.client import Participant, SignalingError, join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.rtc.aiortc_bridge import ice_connection
from tests.helpers.api import Account
from tests.helpers.participants import LOOPBACK, frames_from, meeting_of_two
from tests.helpers.server import MosaicServer


async def test_two_python_participants_exchange_audio_and_video(
    server: MosaicServer, host: Account
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
        await b.publish(audio=ToneAudioTrack(660), video=PatternVideoTrack(shade=90))
        assert await frames_from(a, b) == 640
        assert await frames_from(b, a) == 640
        await b.wait_until(lambda: b.participants[a.id]["audio"] and b.participants[a.id]["video"])
        audio_mid = next(m for m, s in b.media.slots.items() if s and s["source"] == "microphone")
        await b.wait_until(lambda: b.media.received[audio_mid].packets > 20, timeout=10)


def record_sent_payloads(participant: Participant) -> list[bytes]:
    """Tap the publisher's DTLS transport: every RTP payload it sends, before encryption."""
    sent: list[bytes] = []
    pc = participant.media.publisher
    assert pc is not None
    transport = next(t for t in pc.getTransceivers() if t.kind == "video").sender.transport
    original = transport._send_rtp

    async def send(data: bytes) -> None:
        if 128 <= data[0] < 192 and not 192 <= data[1] <= 223:
            packet = RtpPacket.parse(data)
            sent.append(bytes(packet.payload))
        await original(data)

    transport._send_rtp = send
    return sent


async def test_a_subscriber_receives_the_publishers_payloads_byte_for_byte(
    server: MosaicServer, host: Account
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(video=PatternVideoTrack(fps=15))
        sent = record_sent_payloads(a)
        await b.wait_until(lambda: b.media.slot_of(a.id) is not None, timeout=15)
        tap = b.media.received[b.media.slot_of(a.id)]  # type: ignore[index]
        tap.record = True
        await b.wait_until(lambda: len(tap.payloads) >= 60, timeout=20)
        received = [p for p in tap.payloads if p]
        sent_set = set(sent)
        # Every payload that arrived is one the publisher sent, unchanged (the SFU rewrites
        # headers only); and it arrived in the publisher's order.
        assert all(payload in sent_set for payload in received)
        positions = [sent.index(payload) for payload in received]
        assert positions == sorted(positions)
        assert len(received) >= 50


async def test_toggling_the_camera_is_seen_by_everyone_and_stops_forwarding(
    server: MosaicServer, host: Account
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(video=PatternVideoTrack())
        await frames_from(b, a)
        await a.request("media", source="camera", on=False)
        await b.wait_until(lambda: not b.participants[a.id]["video"])
        await b.wait_until(lambda: b.media.slot_of(a.id) is None, timeout=5)
        mid = next(iter(b.media.received))
        count = b.media.received[mid].packets
        await asyncio.sleep(1.0)
        assert b.media.received[mid].packets - count < 5  # the server stopped forwarding
        await a.request("media", source="camera", on=True)
        await b.wait_until(lambda: b.participants[a.id]["video"])
        assert await frames_from(b, a) == 640


async def test_malformed_sdp_gets_a_typed_error_and_the_room_goes_on(
    server: MosaicServer, host: Account
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(video=PatternVideoTrack())
        for sdp in (
            "garbage",
            "v=0\r\nm=video x RTP 96\r\n",
            "v=0\r\n" + "m=audio 9 RTP/AVP 0\r\n" * 70,
        ):
            with pytest.raises(SignalingError) as refused:
                await b.request("publish", sdp=sdp, sources={"0": "camera"})
            assert refused.value.code == "bad_request"
        with pytest.raises(SignalingError) as refused:
            await b.request("answer", sdp="v=0\r\n")
        assert refused.value.code == "bad_request"
        assert await frames_from(b, a) == 640


async def test_garbage_and_replayed_rtp_from_a_participant_harms_nobody(
    server: MosaicServer, host: Account
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(video=PatternVideoTrack())
        await b.publish(video=PatternVideoTrack(shade=50))
        await frames_from(b, a)
        pc = b.media.publisher
        assert pc is not None
        transport = pc.getTransceivers()[0].sender.transport
        recent: list[bytes] = []
        original = transport._send_rtp

        async def keep(data: bytes) -> None:
            if not 192 <= data[1] <= 223:
                recent.append(data)
            await original(data)

        transport._send_rtp = keep
        await asyncio.sleep(1.0)
        transport._send_rtp = original
        junk = [
            os.urandom(40),
            b"\x80\x60\x00",  # truncated header
            b"\x90\x60\x00\x01" + b"\x00" * 8 + b"\xbe\xde\x00\xff",  # extension overrun
            b"\x80\xc9\x00\x07" + b"\x00" * 4,  # RTCP that lies about its length
            b"\x8f\xcd\x00\x01" + b"\x00" * 4,  # unknown feedback type
            json.dumps({"hello": "there"}).encode(),
        ]
        for _ in range(50):
            for packet in junk:
                try:
                    await transport._send_rtp(b"\x80" + packet[1:] if packet[0] < 128 else packet)
                except Exception:
                    continue
        # Replay: real packets sent again, several times each.
        for data in recent[-30:] * 5:
            await transport._send_rtp(data)
        assert recent
        assert await frames_from(b, a, count=10) == 640
        assert await frames_from(a, b, count=5) == 640
        assert server.process is not None and server.process.poll() is None


def drop_dtls(pc: RTCPeerConnection) -> None:
    """Drop every DTLS datagram reaching ``pc``: ICE completes, DTLS never does (as seen
    under load)."""
    connection = ice_connection(pc)
    assert connection is not None
    forward = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        if not 19 < data[0] < 64:  # RFC 7983: 20-63 is DTLS
            forward(data, component)

    connection.data_received = data_received  # type: ignore[method-assign]


async def test_a_subscribe_connection_that_never_connects_is_replaced(
    server: MosaicServer, host: Account
) -> None:
    """The client gives the connection up and the server offers a new one, without the user
    doing anything."""
    created = await host.create_meeting(waiting_room=False)
    b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
    b.media.watchdogs["subscribe"].first_wait_s = 2.0
    broken: list[RTCPeerConnection] = []

    def break_first(mid: str, track: object) -> None:
        if not broken and b.media.subscriber is not None:
            broken.append(b.media.subscriber)
            drop_dtls(b.media.subscriber)

    b.media.on_track(break_first)
    a = await join(created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    async with a, b:
        await a.publish(video=PatternVideoTrack())
        await b.wait_until(lambda: b.media.watchdogs["subscribe"].replaced == 1, timeout=10)
        assert broken and broken[0] is not b.media.subscriber
        assert await frames_from(b, a) == 640
        assert b.media.subscriber is not None
        assert b.media.subscriber.connectionState == "connected"


async def test_a_publish_connection_that_never_connects_is_replaced(
    server: MosaicServer, host: Account
) -> None:
    """The client publishes the same tracks on a new connection; the others see them."""
    a, b = await meeting_of_two(host)
    a.media.watchdogs["publish"].first_wait_s = 2.0
    broken: list[RTCPeerConnection] = []

    def break_first(source: str, sender: object) -> None:
        if not broken and a.media.publisher is not None:
            broken.append(a.media.publisher)
            drop_dtls(a.media.publisher)

    a.media.on_sender(break_first)
    async with a, b:
        await a.publish(video=PatternVideoTrack())
        await a.wait_until(lambda: a.media.watchdogs["publish"].replaced == 1, timeout=10)
        assert broken and broken[0] is not a.media.publisher
        assert await frames_from(b, a) == 640
