"""Counting received packets at the socket: RTP counted and dropped, the rest passed on."""

from __future__ import annotations

import struct

from mosaic.bots.counting import PacketTally, by_kind, codec_names, count_at_socket


class FakeConnection:
    def __init__(self) -> None:
        self.passed: list[bytes] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.passed.append(data)


def rtp(payload_type: int, size: int = 100) -> bytes:
    return struct.pack("!BBHII", 0x80, payload_type, 1, 2, 3) + bytes(size)


def test_rtp_is_counted_by_payload_type_and_everything_else_goes_to_aiortc() -> None:
    connection = FakeConnection()
    tally = count_at_socket(connection)  # type: ignore[arg-type]
    rtcp = struct.pack("!BBH", 0x80, 201, 1) + bytes(4)
    dtls = bytes([22, 254, 253]) + bytes(20)
    for packet in (rtp(96), rtp(96 | 0x80), rtp(111, 40), rtcp, dtls):
        connection.data_received(packet, 1)
    assert tally.packets == 3
    assert tally.by_payload_type == {96: 2, 111: 1}
    assert tally.octets == 2 * 112 + 52
    assert tally.first_at is not None
    assert connection.passed == [rtcp, dtls]


def test_payload_types_are_named_from_the_sdp() -> None:
    sdp = "m=audio 9 X 111\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:96 VP8/90000\r\n"
    sdp += "a=rtpmap:97 rtx/90000\r\n"
    names = codec_names(sdp)
    assert names == {111: "opus", 96: "VP8", 97: "rtx"}
    tally = PacketTally(packets=6, by_payload_type={111: 1, 96: 3, 97: 1, 13: 1})
    assert by_kind(tally, names) == {"audio": 1, "video": 3, "repair": 1, "other": 1}


def test_frames_are_counted_per_stream_by_their_marker_bit() -> None:
    """The last packet of a video frame carries the marker: a tile's frame rate is read from
    the marked packets of its SSRC (`bench.large`)."""
    connection = FakeConnection()
    tally = count_at_socket(connection)  # type: ignore[arg-type]
    other_ssrc = struct.pack("!BBHII", 0x80, 96 | 0x80, 1, 2, 9) + bytes(100)
    for packet in (rtp(96), rtp(96 | 0x80), rtp(96), rtp(96 | 0x80), other_ssrc):
        connection.data_received(packet, 1)
    assert tally.frames == {(96, 3): 2, (96, 9): 1}
