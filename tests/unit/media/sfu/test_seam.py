"""The up/down seam: a relay to another process plugs in as a down track on one side and
as an up track on the other, and neither router is touched or told.

Router A shows Ann's camera; a relay takes its full layer through an in-memory pipe into
router B, where Sam subscribes as to any local publisher. Packets reach Sam, Sam's keyframe
request travels back to Ann's browser, a packet lost on the relay is NACKed across it and
repaired from A's cache, and Sam's own NACKs are answered from B's cache."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.down import DownTrack
from mosaic.media.sfu.negotiation import RTX_PT
from mosaic.media.sfu.up import UpStream
from mosaic.media.wire.rtcp import Pli
from tests.helpers.sfu import Meeting, nack, pli, relay


async def test_a_relay_is_a_down_track_here_and_an_up_track_there() -> None:
    a = Meeting()
    b = Meeting(clock=a.clock)
    ann = await a.publish("ann")
    ann.all_layers(keyframe=True)
    camera = a.router.tracks[("ann", Source.CAMERA)]
    full = camera.streams[2]
    ann_transport = a.transports.made[0]

    pipe = relay(camera, full, to=b.router, clock=a.clock)
    # The relay's down track waits for the layer's next keyframe, and asked for it.
    assert [p.media_ssrc for p in ann_transport.rtcp() if isinstance(p, Pli)][-1] == full.ssrc
    ann.video("f", keyframe=True)
    assert pipe.sent_rtp == 1

    sam = await b.subscribe("sam")
    assert b.frames.of("sam", "offer")[-1]["slots"]["0"] == {
        "participant": "ann",
        "source": "camera",
    }
    [slot] = b.router.subscribers["sam"].peer.slots
    assert len(sam.sent_rtp) == 1  # started at once from B's cached keyframe
    for _ in range(3):
        ann.video("f")
    assert len(sam.sent_rtp) == 4

    # Sam lost its picture: the request crosses the relay back to Ann's browser.
    a.clock.advance(1.0)
    plis = len([p for p in ann_transport.rtcp() if isinstance(p, Pli)])
    requests = pipe.keyframe_requests
    sam.on_rtcp(pli(slot.ssrc))
    assert pipe.keyframe_requests == requests + 1
    new_plis = [p for p in ann_transport.rtcp() if isinstance(p, Pli)][plis:]
    assert [p.media_ssrc for p in new_plis] == [full.ssrc]

    # A packet lost between the processes is NACKed by B's up track and repaired by the
    # relay's down track from A's cache; Sam receives it in its place (here even in order:
    # the in-memory pipe repairs it before the packet that showed the gap is forwarded).
    relay_down = next(down for down in full.downs if isinstance(down, DownTrack))
    lost = (relay_down.rewriter.last_sequence_number + 1) & 0xFFFF
    pipe.drop.add(lost)
    received = len(sam.sent_rtp)
    ann.video("f")  # lost on the relay
    ann.video("f")  # shows the gap: B NACKs across the relay at once
    assert pipe.nacks == [lost]
    assert len(sam.sent_rtp) == received + 2
    sent = sam.headers()
    assert sent[-1].sequence_number == (sent[-2].sequence_number + 1) & 0xFFFF
    assert sent[-2].sequence_number == (sent[-3].sequence_number + 1) & 0xFFFF  # no gap

    # Sam's own NACK is answered from B's cache: nothing crosses the relay for it.
    relayed = b.router.tracks[("ann", Source.CAMERA)].streams[0]
    assert isinstance(relayed, UpStream) and relayed.cache.get(relayed.stats.max_seq)
    sam.on_rtcp(nack(slot.ssrc, [sent[1].sequence_number]))
    rtx = sam.headers()[-1]
    assert (rtx.ssrc, rtx.payload_type) == (slot.rtx_ssrc, RTX_PT)
    assert pipe.nacks == [lost]

    # Ann leaves A: the relay's down track lets go, as any subscriber's would.
    await a.router.remove("ann")
    assert relay_down.source is None and full.downs == []
