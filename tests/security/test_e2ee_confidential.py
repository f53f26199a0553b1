"""What the server of an end-to-end encrypted meeting holds (docs/e2ee.md): a test-only capture
at the SFU (every RTP packet it sends, before SRTP) and at signaling (every frame in and out),
with the server's log at debug level and its database, holds none of the known plaintext (the
clients' encoded video and audio frames, a chat sentence) and none of the meeting's keys (the
link's fragment secret, every epoch's secret the clients held)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from mosaic.client import Participant, join
from mosaic.client.e2ee import b64url, clear_prefix, link_fragment, new_link_secret
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.rtc import fastpath
from mosaic.rtc.aiortc_bridge import MediaTransport
from mosaic.signaling import session
from mosaic.signaling.outbox import Outbox
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_services_in_process
from tests.helpers.participants import LOOPBACK, frames_from

SENTENCE = "The treasure is under the third stone from the well"


class Capture:
    """The test's taps inside the server: RTP it sends, signaling frames both ways, log lines."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.rtp: list[bytes] = []
        self.frames: list[str] = []
        self.log: list[str] = []
        send_rtp, put, parse = MediaTransport.send_rtp, Outbox.put, session.parse_client_message

        def sent_rtp(transport: MediaTransport, packet: bytes) -> None:
            self.rtp.append(bytes(packet))
            send_rtp(transport, packet)

        def sent_frame(outbox: Outbox, text: str) -> None:
            self.frames.append(text)
            put(outbox, text)

        def received_frame(frame: str | bytes) -> Any:
            self.frames.append(frame if isinstance(frame, str) else frame.decode("latin-1"))
            return parse(frame)

        monkeypatch.setattr(MediaTransport, "send_rtp", sent_rtp)
        # The tap is on the pure-Python send path: the compiled one (mosaic/rtc/fastpath.py)
        # sends the same bytes (tests/unit/rtc/test_fastpath.py compares them byte for byte)
        # without passing through `send_rtp`, where nothing could read them.
        monkeypatch.setenv(fastpath.PURE_ENV, "1")
        monkeypatch.setattr(Outbox, "put", sent_frame)
        monkeypatch.setattr(session, "parse_client_message", received_frame)

    def emit(self, record: logging.LogRecord) -> None:
        self.log.append(record.getMessage() + repr(record.__dict__))


class _Handler(logging.Handler):
    def __init__(self, capture: Capture) -> None:
        super().__init__(logging.DEBUG)
        self.capture = capture

    def emit(self, record: logging.LogRecord) -> None:
        self.capture.emit(record)


def record_clear_frames(participant: Participant, into: list[bytes]) -> None:
    """Keep each frame the client encrypts, in clear, before it is encrypted (test-only)."""
    seal = participant.media._seal

    def sealing(kind: str, frame: bytes) -> bytes | None:
        into.append(bytes(frame[clear_prefix(kind, frame) :]))
        return seal(kind, frame)

    participant.media._seal = sealing  # type: ignore[method-assign]


def stored(data_dir: Path) -> bytes:
    """The database as a thief would copy it: the file and its write-ahead log."""
    return b"".join(p.read_bytes() for p in data_dir.glob("mosaic.db*"))


def pieces(frames: list[bytes], size: int = 24) -> set[bytes]:
    """Stretches of known plaintext, every 200 bytes of each clear frame body: forwarded in
    clear, each would lie whole inside one packet's payload."""
    return {
        frame[at : at + size]
        for frame in frames
        for at in range(0, max(1, len(frame) - size), 200)
        if len(frame[at : at + size]) == size
    }


async def test_the_server_holds_no_key_and_no_plaintext_of_an_encrypted_meeting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    capture = Capture(monkeypatch)
    handler = _Handler(capture)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    clear: list[bytes] = []
    secret = new_link_secret()
    held: set[bytes] = {secret}
    try:
        async with serve_services_in_process(tmp_path) as (base_url, _services):
            host = await signup(base_url)
            meeting = await host.create_meeting(e2ee=True, waiting_room=False, record_chat=True)
            link = f"{meeting['join_url']}&{link_fragment(secret)}"
            ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
            bob = await join(link, name="Bob", local_addresses=LOOPBACK)
            async with ann, bob:
                record_clear_frames(ann, clear)
                await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
                assert await frames_from(bob, ann, count=10) == 320
                await ann.send_chat(SENTENCE)
                await bob.wait_until(lambda: any(m["text"] == SENTENCE for m in bob.chat))
                for person in (ann, bob):
                    assert person.e2ee is not None
                    held |= set(person.e2ee.held_secrets())
            await host.client.aclose()
            await asyncio.sleep(0.3)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    database = stored(tmp_path)
    assert len(clear) > 20 and len(capture.rtp) > 20 and capture.frames and capture.log
    forwarded = b"\x00".join(capture.rtp)
    assert not [piece for piece in pieces(clear) if piece in forwarded], "clear media forwarded"
    text = "\n".join(capture.frames + capture.log)
    assert SENTENCE not in text and SENTENCE.encode() not in database
    assert any('"text":"e2ee:' in frame for frame in capture.frames)  # ciphertext was relayed
    for key in held:
        for shown in (b64url(key), key.hex()):
            assert shown not in text, "a key reached the server's frames or log"
            assert shown.encode() not in database
        assert key not in database and key not in forwarded
