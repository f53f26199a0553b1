"""The aiortc internals the end-to-end encryption hooks of `mosaic.rtc.aiortc_bridge` stand
on (`transform_sent_frames`, `transform_received_frames`): an upgrade that moves one fails
here, not as media that silently goes out in clear or never decodes."""

from __future__ import annotations

import inspect
import os

from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

from mosaic.rtc.aiortc_bridge import transform_received_frames


def test_the_decoder_queue_is_where_reassembled_frames_go() -> None:
    source = inspect.getsource(RTCRtpReceiver)
    assert "self.__decoder_queue: queue.Queue = queue.Queue()" in source
    assert "self.__decoder_queue.put((codec, encoded_frame))" in source
    assert "self.__decoder_queue.put(None)" in source
    assert "self.__kind = kind" in source


def test_a_frame_packetized_again_comes_back_whole() -> None:
    frame = bytes([0x50, 0x42, 0x00]) + os.urandom(5000)
    payloads = Vp8Encoder._packetize(frame, 1234)
    assert len(payloads) > 1
    assert b"".join(vp8_depayload(p) for p in payloads) == frame


async def test_received_frames_pass_the_transform_or_are_dropped() -> None:
    class Frame:
        def __init__(self, data: bytes) -> None:
            self.data = data

    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video", direction="recvonly").receiver
    try:
        queue = receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
        kinds: list[str] = []

        def transform(kind: str, data: bytes) -> bytes | None:
            kinds.append(kind)
            return None if data == b"bad" else data[::-1]

        transform_received_frames(receiver, transform)
        queue.put(("vp8", Frame(b"abc")))
        queue.put(("vp8", Frame(b"bad")))
        queue.put(None)
        assert queue.get_nowait()[1].data == b"cba"
        assert queue.get_nowait() is None  # the bad frame never reached the decoder
        assert kinds == ["video", "video"]
    finally:
        await pc.close()
