"""Stray datagrams at a participant's media ports: dropped and counted, and the media flows on.

Anyone who can reach the server's UDP ports can send anything to them. Once, one empty
datagram ended a participant's media for the rest of the meeting (aiortc's DTLS loop read
``data[0]`` and died, while ICE kept answering, so nobody noticed), and a 1-byte one wrote a
traceback to the log each time. Here an attacker fires every kind of garbage, through a real
socket, at the server ports of a publisher and of a subscriber while media flows between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import struct

import aioice.ice
import aioice.stun
import httpx
from OpenSSL import SSL
from prometheus_client.parser import text_string_to_metric_families

from mosaic.client import Participant, join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.rtc.aiortc_bridge import ice_connection
from tests.helpers.api import Account
from tests.helpers.server import MosaicServer

LOOPBACK = ["127.0.0.1"]
Address = tuple[str, int]


async def dropped_datagrams(server: MosaicServer) -> float:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/metrics")
    return sum(
        sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == "mosaic_media_datagrams_dropped_total"
    )


def selected_pair(participant: Participant, pc: str) -> aioice.ice.CandidatePair:
    """The ICE pair a client's connection uses: its remote end is the server's media port."""
    peer = participant.media.publisher if pc == "publish" else participant.media.subscriber
    assert peer is not None
    connection = ice_connection(peer)
    assert connection is not None and connection._nominated
    return connection._nominated[1]


def capture_sent(pair: aioice.ice.CandidatePair) -> list[bytes]:
    """Copies of what the client sends on this pair (real SRTP, to replay from elsewhere)."""
    sent: list[bytes] = []
    protocol = pair.protocol
    original = protocol.send_data

    async def send_data(data: bytes, addr: Address) -> None:
        if len(sent) < 200:
            sent.append(data)
        await original(data, addr)

    protocol.send_data = send_data  # type: ignore[method-assign]
    return sent


def every_first_byte(rng: random.Random) -> list[bytes]:
    """Each first byte 0-255 at every length 0-40 (truncated STUN, DTLS, RTP, RTCP headers and
    everything RFC 7983 leaves unassigned), then random datagrams up to 1500 bytes."""
    junk = [
        bytes([first]) + rng.randbytes(length - 1) if length else b""
        for first in range(256)
        for length in range(41)
    ]
    junk += [rng.randbytes(rng.randint(0, 1500)) for _ in range(400)]
    return junk


def wrong_ssrc_media(rng: random.Random) -> list[bytes]:
    """Plain RTP and RTCP of SSRCs nobody announced, as an SRTP packet would look."""
    packets = []
    for _ in range(200):
        header = struct.pack(
            "!BBHII", 0x80, rng.choice([96, 97, 111, 0x80 | 96]), rng.getrandbits(16),
            rng.getrandbits(32), rng.getrandbits(32),
        )  # fmt: skip
        packets.append(header + rng.randbytes(rng.randint(0, 1200)) + rng.randbytes(10))
    for packet_type, body in ((200, 24), (201, 0), (206, 4), (205, 8), (203, 0)):
        for _ in range(20):
            words = 1 + body // 4
            rtcp = struct.pack("!BBHI", 0x81, packet_type, words, rng.getrandbits(32))
            rtcp += rng.randbytes(body) + struct.pack("!I", 0x80000000 | rng.getrandbits(31))
            packets.append(rtcp + rng.randbytes(10))
    return packets


def dtls_from_another_peer() -> list[bytes]:
    """A real DTLS ClientHello from a fresh OpenSSL client, and forged records after it."""
    connection = SSL.Connection(SSL.Context(SSL.DTLS_METHOD), None)
    connection.set_connect_state()
    with contextlib.suppress(SSL.WantReadError):
        connection.do_handshake()
    hello = connection.bio_read(1500)
    record = struct.Struct("!BHHHIH")  # type, version, epoch, sequence (48 bits), length

    def forged(content_type: int, epoch: int, body: bytes) -> bytes:
        return record.pack(content_type, 0xFEFD, epoch, 0, 7, len(body)) + body

    return [
        hello,
        forged(21, 0, b"\x02\x28"),  # fatal handshake_failure alert, in clear
        forged(21, 1, os.urandom(40)),  # an "encrypted" close_notify
        forged(20, 0, b"\x01"),  # ChangeCipherSpec
        forged(23, 1, os.urandom(300)),  # application data
        forged(22, 0, os.urandom(60)),  # a handshake fragment
    ]


def stun_with_wrong_credentials(client_ufrag: str, server_ufrag: str) -> list[bytes]:
    def request(username: str | None, key: bytes | None, **attributes: object) -> bytes:
        message = aioice.stun.Message(
            message_method=aioice.stun.Method.BINDING,
            message_class=aioice.stun.Class.REQUEST,
        )
        if username is not None:
            message.attributes["USERNAME"] = username
        message.attributes.update(attributes)
        if key is not None:
            message.add_message_integrity(key)
        message.add_fingerprint()
        return bytes(message)

    right_user = f"{server_ufrag}:{client_ufrag}"
    take_over = {"PRIORITY": 1 << 30, "USE-CANDIDATE": None, "ICE-CONTROLLING": 1 << 63}
    response = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.RESPONSE
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = ("127.0.0.1", 9)
    indication = aioice.stun.Message(
        message_method=aioice.stun.Method.BINDING, message_class=aioice.stun.Class.INDICATION
    )
    # A PRIORITY attribute 2 bytes long: aioice's parser raises struct.error on it.
    short_priority = bytearray(
        aioice.stun.Message(
            message_method=aioice.stun.Method.BINDING,
            message_class=aioice.stun.Class.REQUEST,
        ).__bytes__()
    )
    short_priority[3] = 8
    short_priority += struct.pack("!HH", 0x0024, 2) + b"\x00\x01\x00\x00"
    return [
        request("wrong:guess", b"password-of-nobody", **take_over),
        request(right_user, b"not-the-password-0123456", **take_over),
        request(right_user, None, **take_over),
        request(None, None),
        bytes(response),
        bytes(indication),
        bytes(short_priority),
    ]


async def fire(target: Address, datagrams: list[bytes]) -> None:
    """Send from a socket the server never saw, in bursts that leave the media room to flow."""
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.setblocking(False)
    try:
        for index, datagram in enumerate(datagrams):
            attacker.sendto(datagram, target)
            if index % 100 == 99:
                await asyncio.sleep(0.004)
    finally:
        attacker.close()


async def packets_keep_coming(receiver: Participant, mid: str, seconds: int = 4) -> None:
    tally = receiver.media.received[mid]
    for second in range(seconds):
        before = tally.packets
        await asyncio.sleep(1.0)
        assert tally.packets - before > 5, f"media stopped {second} s after the attack"


async def test_stray_datagrams_at_media_ports_are_dropped_and_the_media_flows_on(
    server: MosaicServer, host: Account
) -> None:
    created = await host.create_meeting(waiting_room=False)
    a = await join(created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
    async with a, b:
        await a.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
        await b.wait_until(lambda: b.media.slot_of(a.id) is not None, timeout=15)
        mid = b.media.slot_of(a.id)
        assert mid is not None
        await b.wait_until(lambda: b.media.received[mid].packets > 20, timeout=15)
        publish, subscribe = selected_pair(a, "publish"), selected_pair(b, "subscribe")
        replayable = capture_sent(publish)
        await asyncio.sleep(0.5)
        log_start = len(server.output)
        dropped_before = await dropped_datagrams(server)

        # The smallest attack first: one empty datagram at each port.
        for pair in (publish, subscribe):
            await fire(pair.remote_addr, [b""])
        await packets_keep_coming(b, mid, seconds=2)

        rng = random.Random(11)
        for pair in (publish, subscribe):
            connection = pair.protocol.receiver
            datagrams = [
                *every_first_byte(rng),
                *wrong_ssrc_media(rng),
                *dtls_from_another_peer(),
                *stun_with_wrong_credentials(connection.local_username, connection.remote_username),
                # Real SRTP of this very connection, sent again from another address.
                *[data for data in replayable if 127 < data[0] < 192],
            ]
            await fire(pair.remote_addr, datagrams)
        sent = 2 + 2 * len(datagrams)

        await packets_keep_coming(b, mid)
        track = b.track_of(a.id)
        assert track is not None
        for _ in range(5):
            frame = await asyncio.wait_for(track.recv(), 5)
        assert frame.width == 640
        log = "".join(server.output[log_start:])
        assert "Traceback" not in log and "Exception in callback" not in log, log[-3000:]
        assert len(server.output) - log_start < 20, log[-3000:]  # nothing logged per datagram
        # Most of it was counted (the kernel may drop some of a burst on a full socket buffer).
        assert await dropped_datagrams(server) - dropped_before > 0.8 * sent
