"""The media plane obeys the meeting's rules whatever a client sends."""

from __future__ import annotations

import asyncio

from aiortc import RTCPeerConnection

from mosaic.client import join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.media.wire.sdp import parse_sdp
from tests.helpers.api import Account
from tests.helpers.server import MosaicServer

LOOPBACK = ["127.0.0.1"]


async def test_a_screen_offered_without_permission_is_turned_down(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting(waiting_room=False)  # screen share: hosts only
    async with await join(meeting["join_url"], name="Pupil", local_addresses=LOOPBACK) as pupil:
        pc = RTCPeerConnection()
        pc.addTransceiver(PatternVideoTrack(), direction="sendonly")
        pc.addTransceiver(PatternVideoTrack(shade=50), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        mids = [t.mid for t in pc.getTransceivers()]
        reply = await pupil.request(
            "publish",
            sdp=pc.localDescription.sdp,
            sources={mids[0]: "camera", mids[1]: "screen"},  # labelled by hand
        )
        answer = parse_sdp(reply["sdp"])
        camera, screen = answer.media
        assert camera.port != 0 and camera.direction == "recvonly"
        assert screen.port == 0 and screen.direction == "inactive"
        await pc.close()


async def test_a_muted_participant_is_not_heard_whatever_its_client_sends(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting(waiting_room=False, participants_may_unmute=False)
    boss = await join(
        meeting["join_url"], name="Host", cookies=host.cookies, local_addresses=LOOPBACK
    )
    pupil = await join(meeting["join_url"], name="Pupil", local_addresses=LOOPBACK)
    listener = await join(meeting["join_url"], name="Listener", local_addresses=LOOPBACK)
    async with boss, pupil, listener:
        await pupil.publish(audio=ToneAudioTrack())
        await listener.wait_until(
            lambda: listener.media.slot_of(pupil.id, "microphone") is not None, 15
        )
        mid = listener.media.slot_of(pupil.id, "microphone")
        assert mid is not None
        await listener.wait_until(lambda: listener.media.received[mid].packets > 20, 10)
        await boss.request("mute_all")
        await pupil.wait_for("muted")
        # The pupil's client ignores the mute and keeps sending audio (a hacked client).
        await listener.wait_until(lambda: listener.media.slot_of(pupil.id, "microphone") is None)
        before = listener.media.received[mid].packets
        await asyncio.sleep(1.5)
        assert listener.media.received[mid].packets - before < 5
        assert pupil.media.publisher is not None
        sender = pupil.media.publisher.getSenders()[0]
        assert (await sender.getStats()) is not None  # still sending all along


async def test_a_waiting_participant_gets_no_media_offer(
    server: MosaicServer, host: Account
) -> None:
    meeting = await host.create_meeting()
    boss = await join(
        meeting["join_url"], name="Host", cookies=host.cookies, local_addresses=LOOPBACK
    )
    async with boss:
        await boss.publish(video=PatternVideoTrack())
        waiting = await join(meeting["join_url"], name="Waiting", local_addresses=LOOPBACK)
        await asyncio.sleep(1.0)
        assert waiting.state == "waiting"
        assert [
            e["type"] for e in waiting.signaling.events if e["type"] in ("offer", "slots")
        ] == []
        await waiting.leave()


async def test_audio_goes_to_the_loudest_above_the_cap(server: MosaicServer, host: Account) -> None:
    from mosaic.media.sfu.allocation import AUDIO_CAP

    meeting = await host.create_meeting(waiting_room=False, passcode_required=False)
    speakers = []
    for index in range(AUDIO_CAP + 2):
        speaker = await join(meeting["join_url"], name=f"Speaker {index}", local_addresses=LOOPBACK)
        await speaker.publish(
            audio=ToneAudioTrack(300 + 40 * index, gain=0.3 if index < 2 else 0.0)
        )
        speakers.append(speaker)
    listener = await join(meeting["join_url"], name="Listener", local_addresses=LOOPBACK)
    try:
        await listener.wait_until(
            lambda: sum(1 for s in listener.media.slots.values() if s) == AUDIO_CAP, 20
        )
        audio_slots = {
            mid: s for mid, s in listener.media.slots.items() if s and s["source"] == "microphone"
        }
        assert len(audio_slots) == AUDIO_CAP
        heard = {slot["participant"] for slot in audio_slots.values()}
        # The two who speak are among those heard.
        await listener.wait_until(
            lambda: (
                {speakers[0].id, speakers[1].id}
                <= {s["participant"] for s in listener.media.slots.values() if s}
            ),
            15,
        )
        assert heard
        speaker_event = await listener.wait_for("speaker", timeout=15)
        assert speaker_event["participant"] in {speakers[0].id, speakers[1].id}
    finally:
        await asyncio.gather(*(p.leave() for p in [*speakers, listener]))
