"""The router's scope (breakout rooms) without sockets: a viewer gets only the publishers its
scope allows, whatever it asks to view, and a change of scope re-fills its slots on the
same connection."""

from __future__ import annotations

from mosaic.media.sfu.scope import Reach
from mosaic.media.wire.rtcp import Pli
from tests.helpers.sfu import Meeting


class Rooms:
    """Who is in which room (absent: main), as the domain would answer the router."""

    def __init__(self) -> None:
        self.of: dict[str, str] = {}

    def reach(self, viewer: str) -> Reach:
        room = self.of.get(viewer)
        return lambda publisher: self.of.get(publisher) == room


def owners(meeting: Meeting, viewer: str) -> set[tuple[str, str]]:
    slots = meeting.router.subscribers[viewer].sent_slots
    return {(s["participant"], s["source"]) for s in slots.values() if s}


async def test_a_viewer_gets_only_its_rooms_media_even_when_it_asks_for_more() -> None:
    meeting, rooms = Meeting(), Rooms()
    meeting.router.scope = rooms.reach
    rooms.of = {"ann": "b1", "sam": "b1", "bob": "b2"}
    ann, bob = await meeting.publish("ann"), await meeting.publish("bob")
    for browser in (ann, bob):
        browser.all_layers(keyframe=True)
        browser.audio()
    sam = await meeting.subscribe("sam")
    # Sam's client names Bob (another room) in its view: a crafted request gains nothing.
    meeting.router.view("sam", [("bob", "camera", 640, 360), ("ann", "camera", 640, 360)])  # type: ignore[list-item]
    meeting.tick(0.3)
    assert owners(meeting, "sam") == {("ann", "microphone"), ("ann", "camera")}
    before = len(sam.sent_rtp)
    bob.audio()
    bob.all_layers(keyframe=True)
    assert len(sam.sent_rtp) == before  # nothing of Bob's reaches Sam
    ann.audio()
    assert len(sam.sent_rtp) == before + 1


async def test_a_move_refills_the_slots_on_the_same_connection_with_a_keyframe_request() -> None:
    meeting, rooms = Meeting(), Rooms()
    meeting.router.scope = rooms.reach
    rooms.of = {"ann": "b1", "sam": "b1", "bob": "b2"}
    ann, bob = await meeting.publish("ann"), await meeting.publish("bob")
    for browser in (ann, bob):
        browser.all_layers(keyframe=True)
        browser.audio()
    sam = await meeting.subscribe("sam")
    meeting.tick(0.3)
    made = len(meeting.transports.made)
    asked = len(bob.transport.rtcp())
    rooms.of["sam"] = "b2"
    meeting.router.scope_changed()
    assert owners(meeting, "sam") == {("bob", "microphone"), ("bob", "camera")}
    assert len(meeting.transports.made) == made  # no new connection
    meeting.tick(0.4)  # keyframe requests are paced per track
    plis = [p.media_ssrc for p in bob.transport.rtcp()[asked:] if isinstance(p, Pli)]
    assert set(plis) & set(bob.layer_ssrcs.values())  # the new video starts at a keyframe
    before = len(sam.sent_rtp)
    bob.audio()
    assert len(sam.sent_rtp) == before + 1  # audio follows at once
    ann.audio()
    assert len(sam.sent_rtp) == before + 1


async def test_a_voice_in_another_room_is_not_named_to_a_viewer() -> None:
    """Speaker events name only voices the viewer may hear: an id in ``speaking`` or
    ``speaker`` from another room would say who talks where."""
    meeting, rooms = Meeting(), Rooms()
    meeting.router.scope = rooms.reach
    rooms.of = {"ann": "b1", "sam": "b1", "bob": "b2"}
    ann, bob = await meeting.publish("ann"), await meeting.publish("bob")
    await meeting.subscribe("sam")
    await meeting.subscribe("bob")
    for _ in range(60):  # 3 s: Bob loud, Ann quiet
        bob.audio(level=10)
        ann.audio(level=120)
        meeting.tick(0.05)
    told_sam = meeting.frames.of("sam", "speaking") + meeting.frames.of("sam", "speaker")
    told_bob = meeting.frames.of("bob", "speaking") + meeting.frames.of("bob", "speaker")
    assert "bob" in repr(told_bob)  # the detection ran: Bob's own room hears of him
    assert "bob" not in repr(told_sam)
