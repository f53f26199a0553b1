"""Python clients (real aiortc peers) in an end-to-end encrypted meeting on a real server
(docs/e2ee.md): they see, hear and read each other through an SFU that forwards only
ciphertext; a waiting guest holds no key until an admitted client hands it one; a wrong key
decodes nothing; a removed participant's keys open nothing sent after the removal."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from mosaic.bots.mosaic_bot import MosaicBot
from mosaic.client import Participant, join
from mosaic.client.e2ee import (
    MARK,
    E2eeError,
    SenderKey,
    decrypt_frame,
    frame_trailer,
    new_link_secret,
    ratchet,
)
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from mosaic.media.wire.codecs import vp8_descriptor_size
from mosaic.rtc.aiortc_bridge import tap_rtp
from tests.helpers.e2ee_clients import keyed_alike, keyed_link
from tests.helpers.participants import LOOPBACK, frames_from


async def samples_from(listener: Participant, speaker: Participant) -> int:
    """Decode one frame of ``speaker``'s microphone at ``listener``: its sample count."""
    await listener.wait_until(lambda: listener.track_of(speaker.id or "", "microphone") is not None)
    voice = listener.track_of(speaker.id or "", "microphone")
    assert voice is not None
    heard = await asyncio.wait_for(voice.recv(), 10)
    return int(heard.samples)


async def test_two_python_clients_see_hear_and_read_each_other_end_to_end(server, host) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    bob = await join(link, name="Bob", local_addresses=LOOPBACK)
    async with ann, bob:
        await keyed_alike(ann, bob)
        assert ann.safety_code is not None and ann.safety_code == bob.safety_code
        await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180, fps=10))
        await bob.publish(audio=ToneAudioTrack(600), video=PatternVideoTrack(320, 180, fps=10))
        assert await frames_from(bob, ann) == 320
        assert await frames_from(ann, bob) == 320
        assert await samples_from(bob, ann) > 0
        assert await samples_from(ann, bob) > 0
        assert bob.e2ee is not None and bob.e2ee.decrypted.get(ann.id or "", 0) > 10
        # What arrived on the wire was ciphertext (the trailer's mark closes each frame).
        camera = bob.media.received[bob.media.slot_of(ann.id or "") or ""]
        camera.record = True
        await bob.wait_until(lambda: len(camera.payloads) >= 5, timeout=15)
        assert any(p[-1] == MARK for p in camera.payloads)
        await ann.send_chat("Meet me by the old oak at noon")
        said = await bob.wait_for("chat")
        assert said["text"].startswith("e2ee:")
        await bob.wait_until(lambda: any(m["text"] for m in bob.chat))
        assert bob.chat[-1]["text"] == "Meet me by the old oak at noon"


async def test_a_waiting_guest_holds_no_key_until_an_admitted_client_hands_it_one(
    server, host
) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=True)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    async with ann:
        await keyed_alike(ann)
        guest = await join(link, name="Guest", local_addresses=LOOPBACK)
        async with guest:
            assert guest.state == "waiting"
            await ann.wait_until(lambda: bool(ann.waiting))
            await asyncio.sleep(0.5)
            assert guest.e2ee is None  # nothing to hold a key with, nothing handed
            assert not [e for e in guest.signaling.events if e["type"] == "e2ee.key"]
            await ann.request("admit", all=True)
            await guest.wait_admitted()
            await keyed_alike(ann, guest)
            assert guest.e2ee is not None and not guest.e2ee.self_made
            handed = [e for e in guest.signaling.events if e["type"] == "e2ee.key"]
            assert handed and handed[0]["from"] == ann.id
            assert ann.e2ee is not None and ann.e2ee.epoch == 1  # ratcheted for the newcomer
            assert guest.safety_code == ann.safety_code


async def test_a_wrong_key_decodes_nothing(server, host) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    async with ann:
        await keyed_alike(ann)
        await ann.publish(video=PatternVideoTrack(320, 180, fps=10))
        wrong = await join(
            str(meeting["join_url"]), name="Eve", e2ee_key=bytes(32), local_addresses=LOOPBACK
        )
        async with wrong:
            await wrong.wait_until(lambda: wrong.track_of(ann.id or "") is not None, timeout=15)
            await wrong.wait_until(lambda: wrong.e2ee is not None and wrong.e2ee.failed > 10)
            track = wrong.track_of(ann.id or "")
            assert track is not None
            try:
                await asyncio.wait_for(track.recv(), 2)
                decoded = True
            except TimeoutError:
                decoded = False
            assert not decoded
            assert wrong.e2ee is not None and wrong.e2ee.decrypted == {}
            assert ann.safety_code != wrong.safety_code


def frames_of(packets: list[RtpPacket]) -> list[bytes]:
    """VP8 frames reassembled from RTP packets (payload descriptors dropped), by timestamp."""
    parts: dict[int, list[RtpPacket]] = defaultdict(list)
    for packet in packets:
        parts[packet.timestamp].append(packet)
    frames = []
    for group in parts.values():
        group.sort(key=lambda p: p.sequence_number)
        if not group[-1].marker:
            continue
        frames.append(b"".join(p.payload[vp8_descriptor_size(p.payload) :] for p in group))
    return frames


def camera_receiver(viewer: Participant, sender: Participant) -> RTCRtpReceiver:
    """The viewer's receiver of the sender's camera (for a test's tap on it)."""
    mid = viewer.media.slot_of(sender.id or "")
    pc = viewer.media.subscriber
    assert mid is not None and pc is not None
    return next(t.receiver for t in pc.getTransceivers() if t.mid == mid)


def opens_with(frames: list[bytes], secrets: list[bytes], sender: str) -> int:
    """How many frames any of these secrets opens (each ratcheted up to 8 joins ahead)."""
    keys = []
    for held in secrets:
        secret = held
        for _ in range(9):
            keys.append(SenderKey.of(secret, sender))
            secret = ratchet(secret)
    return sum(
        1
        for frame in frames
        if frame_trailer("video", frame)
        and any(decrypt_frame(k, "video", frame) is not None for k in keys)
    )


async def test_a_removed_participants_keys_open_nothing_sent_after_the_removal(
    server, host
) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    bob = await join(link, name="Bob", local_addresses=LOOPBACK)
    eve = await join(link, name="Eve", local_addresses=LOOPBACK)
    async with ann, bob, eve:
        await keyed_alike(ann, bob, eve)
        await ann.publish(video=PatternVideoTrack(320, 180, fps=10))
        assert await frames_from(bob, ann) == 320
        mid = bob.media.slot_of(ann.id or "")
        assert mid is not None
        seen: list[RtpPacket] = []
        tap_rtp(
            camera_receiver(bob, ann), seen.append
        )  # the test's tap: what Eve would have been sent too
        await asyncio.sleep(1.0)
        before = frames_of(seen)
        assert eve.e2ee is not None
        held = eve.e2ee.held_secrets()
        assert opens_with(before, held, ann.id or "") > 0  # her keys opened what she was sent
        assert ann.e2ee is not None and bob.e2ee is not None
        epoch = ann.e2ee.epoch or 0
        await ann.request("remove", participant=eve.id)
        keys = (ann.e2ee, bob.e2ee)
        await ann.wait_until(
            lambda: (
                all((k.epoch or 0) > epoch for k in keys) and keys[0].current() == keys[1].current()
            ),
            timeout=15,
        )
        assert ann.e2ee.current()[1] not in held  # type: ignore[index]  # a fresh secret
        await asyncio.sleep(0.5)  # frames in flight under the old key pass
        seen.clear()
        await asyncio.sleep(1.5)
        after = frames_of(seen)
        assert len(after) >= 5
        assert opens_with(after, held, ann.id or "") == 0


async def test_a_bot_replaying_a_clip_publishes_it_encrypted(server, host) -> None:  # type: ignore[no-untyped-def]
    """Bots join an encrypted meeting by its keyed link as any Python client (`make bench`
    can then measure what E2EE costs the server: the same packets, a few bytes longer)."""
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    link = keyed_link(meeting, new_link_secret())
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    async with ann:
        await keyed_alike(ann)
        bot = MosaicBot(link, "bot0", cookies=host.cookies, local_addresses=LOOPBACK)
        await bot.start()
        try:
            assert bot.participant is not None
            await keyed_alike(ann, bot.participant)
            assert await frames_from(ann, bot.participant) > 0
            assert ann.e2ee is not None and ann.e2ee.decrypted.get(bot.participant.id or "", 0)
        finally:
            await bot.stop()


async def test_encryption_switched_on_during_the_meeting_covers_what_is_already_sent(
    server, host
) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(waiting_room=False)
    link = keyed_link(meeting, new_link_secret())  # everyone came with the keyed link
    ann = await join(link, name="Ann", cookies=host.cookies, local_addresses=LOOPBACK)
    bob = await join(link, name="Bob", local_addresses=LOOPBACK)
    async with ann, bob:
        await ann.publish(video=PatternVideoTrack(320, 180, fps=10))
        assert await frames_from(bob, ann) == 320
        assert ann.e2ee is None
        await ann.request("settings", settings={"e2ee": True})
        await keyed_alike(ann, bob)
        seen: list[RtpPacket] = []
        tap_rtp(camera_receiver(bob, ann), seen.append)
        await asyncio.sleep(0.5)  # frames sent before the switch pass
        seen.clear()
        await asyncio.sleep(1.5)
        frames = frames_of(seen)
        assert len(frames) >= 5
        assert all(frame_trailer("video", frame) for frame in frames)  # not one in clear
        assert bob.e2ee is not None and bob.e2ee.decrypted.get(ann.id or "", 0) > 3
        assert await frames_from(bob, ann) == 320


async def test_without_the_links_key_a_client_says_and_decrypts_nothing(server, host) -> None:  # type: ignore[no-untyped-def]
    meeting = await host.create_meeting(e2ee=True, waiting_room=False)
    bare = await join(str(meeting["join_url"]), name="Bare", local_addresses=LOOPBACK)
    async with bare:
        assert bare.media.e2ee_required and bare.e2ee is None and bare.safety_code is None
        with pytest.raises(E2eeError):
            await bare.send_chat("in clear, were it sent")
        assert bare.media._open("1", "video", b"\x10" * 40) is None  # nothing reaches a decoder
