"""Replaying pre-encoded packets: pacing, keyframes on request, audio levels for the sender."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from aiortc.codecs.vpx import Vp8Encoder

from mosaic.bots.clips import audio_clip, video_clip
from mosaic.bots.tracks import ReplayAudioTrack, ReplayVideoTrack, bind_sender


async def test_video_packets_carry_continuous_timestamps_across_the_loop() -> None:
    track = ReplayVideoTrack(start=len(video_clip().frames) - 2)
    stamps = []
    for _ in range(4):
        packet = await track.recv()
        stamps.append(packet.pts)
        assert packet.time_base.denominator == 90_000
    assert stamps == [0, 3000, 6000, 9000]
    assert track.keyframes_sent == 1  # the loop came round to the keyframe


async def test_a_keyframe_request_restarts_the_clip_at_its_keyframe() -> None:
    track = ReplayVideoTrack(start=10)
    await track.recv()
    track._last_keyframe = -1e9  # long ago
    track.request_keyframe()
    packet = await track.recv()
    assert bytes(packet) == video_clip().frames[0].data
    assert track.keyframes_sent == 1
    # Asked again at once: deferred (Chromium ignores requests within 300 ms), not lost.
    track.request_keyframe()
    assert bytes(await track.recv()) == video_clip().frames[1].data
    assert track._wanted


async def test_aiortc_packs_a_replayed_packet_without_encoding() -> None:
    track = ReplayVideoTrack()
    payloads, timestamp = Vp8Encoder().pack(await track.recv())
    assert timestamp == 0
    assert sum(len(p) for p in payloads) > len(video_clip().frames[0].data)


async def test_the_audio_sender_hook_writes_the_recorded_level() -> None:
    track = ReplayAudioTrack(start=0)
    frames = iter([SimpleNamespace(audio_level=None), None])

    async def next_encoded_frame(codec: object) -> object:
        await track.recv()
        return next(frames)

    sender = SimpleNamespace(_next_encoded_frame=next_encoded_frame, _send_keyframe=None)
    bind_sender(sender, track)  # type: ignore[arg-type]
    frame = await sender._next_encoded_frame(None)
    assert frame.audio_level == -audio_clip().frames[0].level
    assert await sender._next_encoded_frame(None) is None


def test_the_video_sender_hook_routes_keyframe_requests_to_the_track() -> None:
    track = ReplayVideoTrack()
    sender = SimpleNamespace(_send_keyframe=lambda: None)
    bind_sender(sender, track)  # type: ignore[arg-type]
    sender._send_keyframe()
    assert track.keyframes_requested == 1


async def test_replay_keeps_real_time() -> None:
    track = ReplayAudioTrack()
    loop = asyncio.get_running_loop()
    began = loop.time()
    for _ in range(11):
        await track.recv()
    assert 0.18 <= loop.time() - began < 0.5  # 10 intervals of 20 ms
