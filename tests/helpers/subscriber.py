"""One subscribe connection without sockets, showing one camera: for the subscriber tests."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import PublishedSection
from mosaic.media.sfu.subscriber import SubscribePeer
from mosaic.media.sfu.up import UpTrack
from mosaic.media.wire.rtp import build_rtp
from tests.helpers.packets import vp8_keyframe_header
from tests.helpers.sfu import FakeClock, FakeTransport, Uplink, subscribe_answer

CAMERA = PublishedSection("1", "video", "vp8", 96, 90000, 97, [])
SSRC = 0x4242


class Subscriber:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.transport = FakeTransport()
        self.offers: list[str] = []
        self.peer = SubscribePeer("sam", self.transport, self._send_offer, clock=self.clock)
        self.uplink = Uplink()
        self.track = UpTrack("ann", Source.CAMERA, CAMERA, self.uplink)
        self.stream = self.track.stream(SSRC, None)
        self.sequence = 100

    async def _send_offer(self, sdp: str) -> None:
        self.offers.append(sdp)

    async def connect(self) -> DownTrack:
        """A video slot showing the camera, offered, answered and connected."""
        down = self.peer.add_slot("video")
        down.assign(self.track)
        down.want(self.stream, self.clock())
        await self.peer.negotiate()
        await self.peer.answer(subscribe_answer(self.offers[-1]))
        self.transport.connect()
        return down

    def packet(self, keyframe: bool = False, size: int = 31) -> None:
        """One packet of the camera; ``size`` bytes of payload after the descriptor for an
        interframe (a full one is about 1,000)."""
        payload = vp8_keyframe_header(640, 360) if keyframe else bytes([0x11]) + bytes(size - 1)
        data = build_rtp(
            payload_type=96,
            sequence_number=self.sequence,
            timestamp=self.sequence * 3000,
            ssrc=SSRC,
            payload=bytes([0x10]) + payload,
        )
        self.sequence += 1
        header = self.track.parse(data)
        assert header is not None
        self.stream.receive(data, header, self.clock())
        self.clock.advance(0.033)
