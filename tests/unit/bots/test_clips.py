"""The clips bots replay: encoded once, shaped like a camera and a talker."""

from __future__ import annotations

import itertools
import random

from mosaic.bots.clips import (
    FPS,
    SILENCE_DBOV,
    audio_clip,
    level_dbov,
    talk_pattern,
    video_clip,
)


def test_the_video_clip_is_vp8_at_about_600_kbits_starting_with_its_only_keyframe() -> None:
    clip = video_clip()
    assert clip.frames[0].keyframe
    assert not any(frame.keyframe for frame in clip.frames[1:])
    assert len(clip.frames) == round(clip.seconds * FPS)
    assert 400_000 < clip.bitrate < 800_000
    # A VP8 keyframe starts with a frame tag whose lowest bit is 0 (RFC 6386 §9.1).
    assert clip.frames[0].data[0] & 1 == 0
    assert all(frame.data[0] & 1 == 1 for frame in clip.frames[1:])


def test_the_audio_clip_alternates_talk_and_silence_with_levels() -> None:
    clip = audio_clip()
    levels = [frame.level for frame in clip.frames]
    talking = [level for level in levels if level < SILENCE_DBOV]
    assert clip.frame_duration == 0.02
    assert 0.3 < len(talking) / len(levels) < 0.9
    assert min(talking) < 40  # speech peaks well above silence
    assert SILENCE_DBOV in levels


def test_talk_spurts_and_pauses_have_conversational_lengths() -> None:
    spurts = talk_pattern(60.0, random.Random(7))
    assert len(spurts) > 10
    for (start, end), (next_start, _) in itertools.pairwise(spurts):
        assert 0.8 <= end - start <= 3.0
        assert 0.4 <= next_start - end <= 2.0


def test_levels_follow_rfc_6465() -> None:
    import array

    assert level_dbov(array.array("h", [0] * 960)) == SILENCE_DBOV
    full_scale = array.array("h", [32767, -32767] * 480)
    assert level_dbov(full_scale) == 0
    assert level_dbov(array.array("h", [3277, -3277] * 480)) == 20  # a tenth: -20 dBov
