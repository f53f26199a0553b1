"""The SFU forwards end-to-end encrypted media without reading it (docs/e2ee.md): frames whose
encrypted part is random bytes, behind the clear prefix the format leaves (VP8: 10 bytes of a
keyframe, 3 of a delta frame; Opus: the TOC byte) and before its 10-byte trailer. Keyframe
detection, simulcast layer choice and switching, and the active speaker (an RTP header
extension) work as for clear media, and every payload leaves the SFU byte for byte as it came."""

from __future__ import annotations

import os

from mosaic.domain.roster import Source
from mosaic.media.sfu.negotiation import DOWN_EXTENSIONS
from mosaic.media.wire.codecs import vp8_picture_size
from mosaic.media.wire.rtcp import Pli
from mosaic.media.wire.rtp import build_rtp, parse_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import (
    AUDIO_LEVEL_ID,
    CHROMIUM_AUDIO_SSRC,
    MID_ID,
    RID_ID,
    Browser,
    FakeTransport,
    Meeting,
)

SIZES = {"q": (320, 180), "h": (640, 360), "f": (1280, 720)}


def encrypted_vp8(keyframe: bool, width: int, height: int) -> bytes:
    """An encrypted VP8 frame as the format makes it, its ciphertext random: the clear prefix
    (a keyframe's frame tag, start code and size; a delta frame's tag), then bytes no parser
    may read, then counter, epoch and the 0xE2 mark."""
    prefix = vp8_keyframe_header(width, height)[:10] if keyframe else bytes([0x11, 0x02, 0x00])
    return prefix + os.urandom(120) + os.urandom(8) + bytes([7, 0xE2])


class EncryptedBrowser:
    """A publishing browser whose encoded frames are encrypted end to end."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.sent: list[bytes] = []  # every RTP payload, as sent

    def video(self, rid: str, keyframe: bool = False) -> None:
        b = self.browser
        ssrc = b.layer_ssrcs[rid]
        payload = bytes([0x10]) + encrypted_vp8(keyframe, *SIZES[rid])  # descriptor: S bit
        self.sent.append(payload)
        b.transport.on_rtp(
            build_rtp(
                payload_type=96,
                sequence_number=b.next_sequence(ssrc),
                timestamp=int(b.clock.now * 90000) & 0xFFFFFFFF,
                ssrc=ssrc,
                payload=payload,
                marker=True,
                extensions=[(MID_ID, b"1"), (RID_ID, rid.encode())],
            )
        )

    def all_layers(self, keyframe: bool = False) -> None:
        for rid in "qhf":
            self.video(rid, keyframe)

    def audio(self, level: int) -> None:
        """An Opus frame: its TOC byte clear, the rest ciphertext; the level in the clear
        RTP header extension (RFC 6464), which is all the speaker detection reads."""
        b = self.browser
        payload = b"\xfc" + os.urandom(40) + os.urandom(8) + bytes([7, 0xE2])
        self.sent.append(payload)
        b.transport.on_rtp(
            build_rtp(
                payload_type=111,
                sequence_number=b.next_sequence(CHROMIUM_AUDIO_SSRC),
                timestamp=int(b.clock.now * 48000) & 0xFFFFFFFF,
                ssrc=CHROMIUM_AUDIO_SSRC,
                payload=payload,
                extensions=[(MID_ID, b"0"), (AUDIO_LEVEL_ID, bytes([0x80 | level]))],
            )
        )


def forwarded(transport: FakeTransport, ssrc: int | None = None) -> list[bytes]:
    payloads = []
    for data in transport.sent_rtp:
        header = parse_rtp(data, DOWN_EXTENSIONS)
        if ssrc is None or header.ssrc == ssrc:
            payloads.append(bytes(data[header.payload_offset : header.payload_end]))
    return payloads


def picture_sizes(transport: FakeTransport, ssrc: int) -> list[tuple[int, int]]:
    return [size for p in forwarded(transport, ssrc) if (size := vp8_picture_size(p))]


async def test_encrypted_keyframes_are_found_and_layers_switch_on_them() -> None:
    meeting = Meeting()
    ann = EncryptedBrowser(await meeting.publish("ann"))
    ann.all_layers(keyframe=True)
    sam = await meeting.subscribe("sam")
    [_, video] = meeting.router.subscribers["sam"].peer.slots
    assert picture_sizes(sam, video.ssrc) == [(320, 180)]  # small tiles: the quarter layer
    publisher = meeting.transports.made[0]
    meeting.tick(0.5)
    asked = len(publisher.rtcp())
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)])
    meeting.tick(0.4)
    plis = [p.media_ssrc for p in publisher.rtcp()[asked:] if isinstance(p, Pli)]
    assert ann.browser.layer_ssrcs["f"] in plis  # the full layer's keyframe is asked for
    ann.all_layers()  # delta frames: no switch before the keyframe
    assert picture_sizes(sam, video.ssrc) == [(320, 180)]
    ann.video("f", keyframe=True)
    ann.all_layers()
    meeting.router.view("sam", [("ann", Source.CAMERA, 320, 180)])
    ann.all_layers()
    ann.video("q", keyframe=True)
    ann.video("f", keyframe=True)
    assert picture_sizes(sam, video.ssrc) == [(320, 180), (1280, 720), (320, 180)]
    # Nothing of what was encrypted is touched: each payload leaves as it came.
    sent = set(ann.sent)
    assert all(payload in sent for payload in forwarded(sam, video.ssrc))


async def test_encrypted_audio_is_forwarded_untouched_and_its_speaker_found() -> None:
    meeting = Meeting()
    ann = EncryptedBrowser(await meeting.publish("ann"))
    bob = EncryptedBrowser(await meeting.publish("bob"))
    sam = await meeting.subscribe("sam")
    for _ in range(100):  # two seconds: Ann talks, Bob is silent
        ann.audio(level=10)
        bob.audio(level=127)
        meeting.tick(0.02)
    assert meeting.frames.of("sam", "speaker")[-1] == {"type": "speaker", "participant": "ann"}
    sent = set(ann.sent) | set(bob.sent)
    heard = forwarded(sam)
    assert heard and all(payload in sent for payload in heard)
