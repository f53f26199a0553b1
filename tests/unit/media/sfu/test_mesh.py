"""The relay mesh (`mosaic.media.sfu.mesh`): slices of one meeting in this process, each a
router and a mesh, joined by real relay links on loopback UDP (tests/helpers/mesh.py).

What crosses: every audible voice to every slice; a video only to a slice where a viewer
shows it, one relay stream per layer however many viewers there; keyframe requests back to
the publisher, loss repaired from the sender's cache; keys through the mesh's messages for a
secure peer; and nothing of a peer once it is gone. The mesh's messages under attack:
tests/security/test_relay_mesh.py."""

from __future__ import annotations

import asyncio

from mosaic.domain.roster import Source
from mosaic.media.sfu.mesh import MeshPeer
from mosaic.media.wire.rtcp import Nack, Pli
from mosaic.media.wire.rtp import build_rtp
from tests.helpers.mesh import Slices
from tests.helpers.relay import until
from tests.helpers.sfu import Browser, FakeTransport, pli

CAMERA = ("ann", Source.CAMERA)
MICROPHONE = ("ann", Source.MICROPHONE)


async def _viewer(s: Slices, worker: str, pid: str, shows: list[str]) -> FakeTransport:
    """A viewer on ``worker`` who shows the cameras of ``shows``."""
    viewer = await s[worker].subscribe(pid)
    s[worker].router.view(pid, [(p, Source.CAMERA, 320, 180) for p in shows])
    return viewer


async def _shown(s: Slices, worker: str, pid: str, ann: Browser, viewer: FakeTransport) -> None:
    """Let the want cross, the track come back, the viewer be offered it, and a keyframe
    reach it."""
    await until(lambda: CAMERA in s[worker].router.tracks)
    s.tick()
    await s[worker].answer(pid)

    def seen() -> bool:
        ann.all_layers(keyframe=True)
        s.tick()
        return any(h.payload_type == 96 for h in viewer.headers())

    await until(seen)


async def _ann_on_a(s: Slices) -> Browser:
    s.place({"ann": "a", "amy": "a", "sam": "b", "sid": "b", "sue": "c"})
    ann = await s["a"].publish("ann")
    ann.all_layers(keyframe=True)
    ann.audio()
    return ann


async def test_a_viewer_on_another_slice_sees_and_hears_the_publisher() -> None:
    s = await Slices.open(["a", "b"])
    try:
        ann = await _ann_on_a(s)
        # Audio crosses without anyone asking: every voice reaches every slice.
        await until(lambda: MICROPHONE in s["b"].router.tracks)
        assert CAMERA not in s["b"].router.tracks  # no one on B shows her yet
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        for _ in range(3):
            ann.audio(level=10)
        await until(lambda: any(h.payload_type == 111 for h in sam.headers()))
        # B's speaker detector hears Ann's level from the relayed header extension.
        await until(lambda: s["b"].router.speakers.levels(s.clock()).get("ann", 0) > 0)
        slots = s["b"].frames.of("sam", "offer")[-1]["slots"]
        assert {"participant": "ann", "source": "camera"} in slots.values()
        assert {"participant": "ann", "source": "microphone"} in slots.values()
        stats = s.meshes["a"].stats()
        assert stats["relayed_out"] == 4  # audio + three layers
        assert stats["dropped"] == 0 and s.meshes["b"].stats()["dropped"] == 0
    finally:
        await s.close()


async def test_two_viewers_share_one_relay_stream_per_layer() -> None:
    s = await Slices.open(["a", "b"])
    try:
        ann = await _ann_on_a(s)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        sid = await _viewer(s, "b", "sid", ["ann"])
        await _shown(s, "b", "sid", ann, sid)
        assert len(s.of("a", "b", "track")) == 2  # audio, camera: once each
        assert s.meshes["a"].stats()["relayed_out"] == 4
        sent = s.meshes["a"].stats()["packets_out"]
        before = (len(sam.sent_rtp), len(sid.sent_rtp))
        for _ in range(10):
            ann.all_layers()
        await until(
            lambda: len(sam.sent_rtp) >= before[0] + 10 and len(sid.sent_rtp) >= before[1] + 10
        )
        assert s.meshes["a"].stats()["packets_out"] == sent + 30  # per layer, not per viewer
    finally:
        await s.close()


async def test_a_page_flip_stops_what_no_one_there_shows_and_starts_the_new_page() -> None:
    s = await Slices.open(["a", "b"])
    try:
        s.place({"ann": "a", "bob": "a", "sam": "b"})
        ann = await s["a"].publish("ann")
        bob = await s["a"].publish("bob")
        for browser in (ann, bob):
            browser.all_layers(keyframe=True)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        assert ("bob", Source.CAMERA) not in s["b"].router.tracks
        link_sent = s.meshes["a"].stats()["packets_out"]
        wants = len(s.of("b", "a", "want"))

        # Page 2: Bob. Ann's video stops crossing; Bob's starts, at his next keyframe,
        # which B's viewer asks for and the request crosses back to Bob's browser.
        s["b"].router.view("sam", [("bob", Source.CAMERA, 320, 180)])
        await until(lambda: ("bob", Source.CAMERA) in s["b"].router.tracks)
        assert CAMERA not in s["b"].router.tracks
        assert len(s.of("b", "a", "want")) == wants + 1  # one message for the flip
        # Bob's browser was asked for a keyframe as soon as his video began to cross (no
        # clock moved: no retry, no tick), so the flip costs one keyframe round trip.
        bob_transport = s["a"].transports.made[1]
        assert [p for p in bob_transport.rtcp() if isinstance(p, Pli)]
        requests = s.meshes["b"].stats()["keyframe_requests_sent"]
        s.tick()  # B gives Sam's slot to Bob: its down track asks, and the PLI crosses back
        assert s.meshes["b"].stats()["keyframe_requests_sent"] == requests + 1
        await s["b"].answer("sam")
        before = len(sam.sent_rtp)
        for _ in range(5):
            ann.all_layers()
        await asyncio.sleep(0.05)
        assert s.meshes["a"].stats()["packets_out"] == link_sent  # nothing of Ann crossed

        # Bob's browser answers with one keyframe: it starts the relay on A and Sam on B.
        bob.all_layers(keyframe=True)
        await until(lambda: len(sam.sent_rtp) > before)
        [slot] = s["b"].router.subscribers["sam"].peer.slots_of("video")
        assert slot.track is s["b"].router.tracks[("bob", Source.CAMERA)]
        assert {h.ssrc for h in sam.headers()[before:]} == {slot.ssrc}
    finally:
        await s.close()


async def test_muted_audio_stops_crossing_and_comes_back_when_unmuted() -> None:
    s = await Slices.open(["a", "b"])
    try:
        ann = await _ann_on_a(s)
        await until(lambda: MICROPHONE in s["b"].router.tracks)
        s["a"].gate.muted.add(MICROPHONE)
        s["a"].router.sources_changed(_Who("ann"))
        await until(lambda: MICROPHONE not in s["b"].router.tracks)
        sent = s.meshes["a"].stats()["packets_out"]
        for _ in range(5):
            ann.audio()
        await asyncio.sleep(0.05)
        assert s.meshes["a"].stats()["packets_out"] == sent
        s["a"].gate.muted.discard(MICROPHONE)
        s["a"].router.sources_changed(_Who("ann"))
        await until(lambda: MICROPHONE in s["b"].router.tracks)
        ann.audio()
        await until(lambda: s.meshes["b"].stats()["packets_in"] > 0)
        await until(lambda: s.meshes["a"].stats()["packets_out"] > sent)
    finally:
        await s.close()


class _Who:
    def __init__(self, pid: str) -> None:
        self.id = pid


async def test_five_percent_loss_on_the_relay_path_is_repaired_from_the_senders_cache() -> None:
    s = await Slices.open(["a", "b"], loss={("a", "b"): 0.05})
    try:
        ann = await _ann_on_a(s)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        [slot] = [d for d in s["b"].router.subscribers["sam"].peer.slots_of("video")]
        rid = slot.source.rid  # type: ignore[union-attr]
        ssrc = slot.ssrc
        start = max(h.sequence_number for h in sam.headers() if h.ssrc == ssrc)
        count = 300
        for _ in range(count):
            ann.video(rid or "q")
            s.clock.advance(1 / 30)
            s.meshes["b"].tick(s.clock())
            await asyncio.sleep(0.001)

        def numbers() -> set[int]:
            return {h.sequence_number for h in sam.headers() if h.ssrc == ssrc}

        def complete() -> bool:
            s.clock.advance(0.05)
            s.meshes["b"].tick(s.clock())
            return {(start + i) & 0xFFFF for i in range(1, count + 1)} <= numbers()

        await until(complete, timeout=5.0)
        assert s.wire("a", "b").dropped >= 10
        assert s.meshes["a"].stats()["retransmitted"] > 0
        ann_transport = s["a"].transports.made[0]
        assert not [p for p in ann_transport.rtcp() if isinstance(p, Nack)]  # A's cache did it
    finally:
        await s.close()


async def test_a_keyframe_request_from_a_viewer_there_reaches_the_publisher() -> None:
    s = await Slices.open(["a", "b"])
    try:
        ann = await _ann_on_a(s)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        s.clock.advance(1.0)
        ann_transport = s["a"].transports.made[0]
        before = len([p for p in ann_transport.rtcp() if isinstance(p, Pli)])
        [slot] = s["b"].router.subscribers["sam"].peer.slots_of("video")
        sam.on_rtcp(pli(slot.ssrc))
        await until(lambda: len([p for p in ann_transport.rtcp() if isinstance(p, Pli)]) > before)
    finally:
        await s.close()


async def test_a_secure_peer_gets_its_key_through_the_mesh_and_strangers_are_dropped() -> None:
    s = await Slices.open(["a", "b"], secure=True)
    try:
        [hello] = [m for m in s.of("a", "b", "hello") if not m["reply"]]
        assert isinstance(hello["key"], str) and len(hello["key"]) == 60
        ann = await _ann_on_a(s)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        assert s.meshes["b"].stats()["refused"] == 0

        # A stranger on the same host sends B packets of a relayed stream: dropped, counted.
        port = hello["port"]
        b_port = next(m for m in s.of("b", "a", "hello") if not m["reply"])["port"]
        [camera] = [m["track"] for m in s.of("a", "b", "track") if m["track"]["kind"] == "video"]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        await asyncio.sleep(0.05)  # what Ann sent is in
        received = s.meshes["b"].stats()["packets_in"]
        for number in range(20):
            forged = build_rtp(
                payload_type=96,
                sequence_number=60000 + number,
                timestamp=number,
                ssrc=camera["streams"][0][0],
                payload=bytes(40),
            )
            transport.sendto(forged, ("127.0.0.1", b_port))
        transport.close()
        await until(lambda: s.meshes["b"].stats()["strangers"] >= 20)
        assert port != b_port and s.meshes["b"].stats()["packets_in"] == received
    finally:
        await s.close()


async def test_a_peer_removed_takes_its_tracks_off_the_router_at_once() -> None:
    s = await Slices.open(["a", "b"])
    try:
        ann = await _ann_on_a(s)
        sam = await _viewer(s, "b", "sam", ["ann"])
        await _shown(s, "b", "sam", ann, sam)
        assert {CAMERA, MICROPHONE} <= set(s["b"].router.tracks)
        s.meshes["b"].set_peers([])  # A died (the home says so)
        assert CAMERA not in s["b"].router.tracks and MICROPHONE not in s["b"].router.tracks
        [slot] = s["b"].router.subscribers["sam"].peer.slots_of("video")
        assert slot.source is None  # no slot is fed by a dead stream
        assert s.meshes["b"].stats()["relayed_in"] == 0
    finally:
        await s.close()


async def test_three_slices_hear_every_voice_and_a_recording_home_wants_every_video() -> None:
    s = await Slices.open(["a", "b", "c"])
    try:
        ann = await _ann_on_a(s)
        await until(lambda: all(MICROPHONE in s[w].router.tracks for w in ("b", "c")))
        assert CAMERA not in s["c"].router.tracks
        s.meshes["c"].want_all_video(True)
        await until(lambda: CAMERA in s["c"].router.tracks)
        assert CAMERA not in s["b"].router.tracks  # B still shows nothing of her
        s.meshes["c"].want_all_video(False)
        await until(lambda: CAMERA not in s["c"].router.tracks)
        assert ann.layer_ssrcs  # Ann published all along
    finally:
        await s.close()


async def test_peers_are_told_by_worker_id_and_a_changed_peer_is_reopened() -> None:
    s = await Slices.open(["a", "b"])
    try:
        await _ann_on_a(s)
        await until(lambda: MICROPHONE in s["b"].router.tracks)
        # B drops A and takes it back (the home's peer list flapped): B's new socket is
        # announced, A starts again towards it, and the microphone crosses again.
        s.meshes["b"].set_peers([])
        assert MICROPHONE not in s["b"].router.tracks
        s.meshes["b"].set_peers([MeshPeer("a", "127.0.0.1", False)])
        await s.linked()
        await until(lambda: MICROPHONE in s["b"].router.tracks)
    finally:
        await s.close()


async def test_a_camera_wanted_before_its_layers_are_known_crosses_once_they_are() -> None:
    s = await Slices.open(["a", "b"])
    try:
        s.place({"ann": "a", "sam": "b"})
        ann = await s["a"].publish("ann")  # no packet yet: its simulcast layers are unknown
        sam = await _viewer(s, "b", "sam", ["ann"])
        await asyncio.sleep(0.02)
        assert CAMERA not in s["b"].router.tracks
        ann.all_layers(keyframe=True)
        s.tick(0.25)  # the mesh looks again at what waited for its layers
        await _shown(s, "b", "sam", ann, sam)
        [relayed] = [m["track"] for m in s.of("a", "b", "track") if m["track"]["kind"] == "video"]
        assert [rid for _, _, rid in relayed["streams"]] == ["q", "h", "f"]
    finally:
        await s.close()


async def test_a_viewer_that_said_nothing_yet_gets_the_first_cameras_from_elsewhere_too() -> None:
    s = await Slices.open(["a", "b"])
    try:
        await _ann_on_a(s)
        await s["b"].subscribe("sam")  # no view yet: the first few cameras, as on one worker
        await until(lambda: CAMERA in s["b"].router.tracks)
        assert s.of("b", "a", "want")[-1]["default"] is True
        s["b"].router.view("sam", [])  # shows no video now
        await until(lambda: CAMERA not in s["b"].router.tracks)
        assert MICROPHONE in s["b"].router.tracks
    finally:
        await s.close()
