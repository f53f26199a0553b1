"""One meeting's router without sockets: who gets which slots, which layer, which audio,
and what the participants are told."""

from __future__ import annotations

from mosaic.domain.roster import Source
from mosaic.media.sfu.allocation import AUDIO_CAP
from mosaic.media.sfu.negotiation import DOWN_EXTENSIONS
from mosaic.media.wire.codecs import vp8_picture_size
from mosaic.media.wire.rtcp import Pli
from mosaic.media.wire.rtp import parse_rtp
from tests.helpers.sfu import FakeTransport, Meeting


def picture_sizes(transport: FakeTransport, ssrc: int) -> list[tuple[int, int]]:
    """The sizes of the keyframes a subscriber received on one slot."""
    sizes = []
    for data in transport.sent_rtp:
        header = parse_rtp(data, DOWN_EXTENSIONS)
        if header.ssrc == ssrc:
            size = vp8_picture_size(memoryview(data)[header.payload_offset : header.payload_end])
            if size:
                sizes.append(size)
    return sizes


async def test_a_subscriber_is_offered_a_slot_per_track_and_told_whose_it_is() -> None:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    ann.all_layers(keyframe=True)
    ann.audio()
    await meeting.subscribe("sam")
    offer = meeting.frames.of("sam", "offer")[-1]
    assert offer["slots"] == {
        "0": {"participant": "ann", "source": "microphone"},
        "1": {"participant": "ann", "source": "camera"},
    }
    assert meeting.frames.of("ann", "offer") == []  # nobody else publishes: nothing to show


async def test_media_flows_to_subscribers_and_not_back_to_its_publisher() -> None:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    ann.all_layers(keyframe=True)
    sam = await meeting.subscribe("sam")
    await meeting.subscribe("ann")
    before = len(sam.sent_rtp)
    ann.audio()
    ann.all_layers()
    [audio, video] = meeting.router.subscribers["sam"].peer.slots
    headers = sam.headers()[before:]
    # One audio packet and one video packet: only the layer that fits sam's tile.
    assert sorted(h.ssrc for h in headers) == sorted([audio.ssrc, video.ssrc])
    ann_subscriber = meeting.router.subscribers["ann"].peer.transport
    assert isinstance(ann_subscriber, FakeTransport) and ann_subscriber.sent_rtp == []
    stats = meeting.router.stats()
    assert stats["packets_forwarded"] == len(sam.sent_rtp)
    assert stats["published_streams"] == 4 and stats["forwarded_streams"] == 2


async def test_the_layer_follows_the_tile_size_the_subscriber_shows() -> None:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    ann.all_layers(keyframe=True)
    sam = await meeting.subscribe("sam")
    [_, video] = meeting.router.subscribers["sam"].peer.slots
    assert picture_sizes(sam, video.ssrc) == [(320, 180)]  # before a view: small tiles
    publisher = meeting.transports.made[0]
    meeting.tick(0.5)
    asked = len(publisher.rtcp())
    meeting.router.view("sam", [("ann", Source.CAMERA, 1280, 720)])
    meeting.tick(0.4)  # requests are paced (350 ms per track): it may be owed a moment
    plis = [p.media_ssrc for p in publisher.rtcp()[asked:] if isinstance(p, Pli)]
    assert ann.layer_ssrcs["f"] in plis  # the full layer's keyframe is asked for
    ann.video("f", keyframe=True)
    # Every layer flows again (after a silence, one alone would count as all the publisher
    # still sends: see `UpTrack.layers`).
    ann.all_layers()
    meeting.router.view("sam", [("ann", Source.CAMERA, 320, 180)])
    ann.all_layers()  # still the full layer until the quarter one's keyframe
    ann.video("q", keyframe=True, width=320, height=180)
    ann.video("f", keyframe=True)
    assert picture_sizes(sam, video.ssrc) == [(320, 180), (1280, 720), (320, 180)]


async def test_no_more_than_six_speakers_are_forwarded_to_anyone() -> None:
    meeting = Meeting()
    speakers = [await meeting.publish(f"p{index}") for index in range(AUDIO_CAP + 2)]
    for browser in speakers:
        browser.audio()
    await meeting.subscribe("sam")
    assigned = [
        down.track.participant_id
        for down in meeting.router.subscribers["sam"].peer.slots_of("audio")
        if down.track is not None
    ]
    assert len(assigned) == AUDIO_CAP == 6


async def test_a_muted_source_stops_at_once_and_its_slot_is_emptied() -> None:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    ann.audio()
    sam = await meeting.subscribe("sam")
    ann.audio()
    heard = len(sam.sent_rtp)
    assert heard
    meeting.gate.muted.add(("ann", Source.MICROPHONE))

    class Ann:
        id = "ann"

    meeting.router.sources_changed(Ann())
    ann.audio()
    assert len(sam.sent_rtp) == heard
    assert meeting.frames.of("sam", "slots")[-1]["slots"]["0"] is None


async def test_a_departed_publisher_leaves_no_track_and_empty_slots() -> None:
    meeting = Meeting()
    await meeting.publish("ann")
    await meeting.subscribe("sam")
    publisher = meeting.transports.made[0]
    await meeting.router.remove("ann")
    assert meeting.router.tracks == {} and publisher.closed
    slots = meeting.frames.of("sam", "slots")[-1]["slots"]
    assert set(slots.values()) == {None}


async def test_the_loudest_speaker_is_announced_to_everyone() -> None:
    meeting = Meeting()
    ann = await meeting.publish("ann")
    bob = await meeting.publish("bob")
    await meeting.subscribe("sam")
    for _ in range(100):  # two seconds: ann talks, bob is silent
        ann.audio(level=10)
        bob.audio(level=127)
        meeting.tick(0.02)
    assert meeting.frames.of("sam", "speaker")[-1] == {"type": "speaker", "participant": "ann"}
    assert meeting.frames.of("sam", "speaking")[-1]["participants"] == ["ann"]


async def test_closing_closes_every_connection() -> None:
    meeting = Meeting()
    await meeting.publish("ann")
    await meeting.subscribe("sam")
    await meeting.router.close()
    assert all(transport.closed for transport in meeting.transports.made)
    assert meeting.router.publishers == {} and meeting.router.subscribers == {}
