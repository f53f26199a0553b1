"""Media for bots, encoded once per process and replayed packet for packet.

A bot that encoded its own video would cost a CPU core per few bots and measure the encoder,
not the server. So a process encodes a few seconds of VP8 and of Opus at start-up (about a
second of CPU) and every bot replays those packets with fresh timestamps.

Video: 640x360 at 30 fps, about 600 kbit/s in constant-bitrate mode (aiortc's own libvpx
settings), one keyframe at the start of the clip and none after. Replaying loops back to that
keyframe, which makes the loop a valid stream (a VP8 keyframe resets every reference) and
gives the answer to a keyframe request: jump back to the start (see `tracks`). The picture is
a scrolling blocky texture with a noisy "face" window, so the encoder has real work to do and
frame sizes vary as a camera's do (keyframe ~10 KB, deltas 0.4-4 KB).

Simulcast (``mosaic bots --simulcast``): the same pictures also at 320x180 and 160x90 (the
web client's half and quarter layers, ~250 and ~90 kbit/s), each layer its own clip with its
one keyframe, encoded once per process as the full-size clip is (`layer_clips`).

Audio: Opus, 20 ms frames, 48 kHz mono, speech-like: talk spurts of 0.8-3 s separated by
0.4-2 s pauses (the on/off pattern of conversational speech), each spurt a voiced harmonic
sound modulated at a syllable rate of ~4 Hz. Each packet carries the level of the PCM it was
encoded from (RFC 6465 Appendix A), which the sender writes in the audio-level extension.
"""

from __future__ import annotations

import array
import fractions
import math
import random
from dataclasses import dataclass
from functools import cache

import av

WIDTH, HEIGHT, FPS = 640, 360, 30
VIDEO_BITRATE = 600_000
VIDEO_SECONDS = 5.0
AUDIO_RATE = 48_000
AUDIO_FRAME_SAMPLES = 960  # 20 ms
AUDIO_SECONDS = 12.0
AUDIO_BITRATE = 32_000
SILENCE_DBOV = 127
# The web client's simulcast layers (mosaic/web/js/media.js): rid, size, bitrate.
LAYERS = (("q", 160, 90, 90_000), ("h", 320, 180, 250_000), ("f", WIDTH, HEIGHT, VIDEO_BITRATE))


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One encoded picture or 20 ms of sound: its bytes and what a sender needs besides."""

    data: bytes
    keyframe: bool = False
    level: int = SILENCE_DBOV  # audio: -dBov, 0 (loud) .. 127 (silence)


@dataclass(frozen=True, slots=True)
class Clip:
    frames: tuple[EncodedFrame, ...]
    frame_duration: float  # seconds

    @property
    def seconds(self) -> float:
        return len(self.frames) * self.frame_duration

    @property
    def bitrate(self) -> float:
        """Average bits per second over the whole clip."""
        return sum(len(f.data) for f in self.frames) * 8 / self.seconds


def _vp8_encoder(
    width: int = WIDTH, height: int = HEIGHT, bitrate: int = VIDEO_BITRATE
) -> av.CodecContext:
    """libvpx with the settings aiortc uses for a camera (CBR, realtime, no lookahead)."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.bit_rate = bitrate
    codec.pix_fmt = "yuv420p"
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.time_base = fractions.Fraction(1, FPS)
    codec.gop_size = 1_000_000  # no periodic keyframes: the loop's start is the only one
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        "bufsize": str(bitrate),
        "cpu-used": "-6",
        "deadline": "realtime",
        "lag-in-frames": "0",
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "noise-sensitivity": "4",
        "overshoot-pct": "15",
        "partitions": "0",
        "static-thresh": "1",
        "undershoot-pct": "100",
    }
    return codec


def _pictures(count: int, seed: int) -> list[bytes]:
    """Luma planes: a scrolling texture of 8x8 blocks and a 160x120 window of fresh noise."""
    rng = random.Random(seed)
    span = WIDTH * 2
    blocks = [bytes(rng.randint(70, 190) for _ in range(span // 8)) for _ in range(HEIGHT // 8)]
    rows = [bytes(v for v in blocks[r // 8] for _ in range(8)) for r in range(HEIGHT)]
    # Low-amplitude noise: random bytes squeezed into 116..139 by a translation table.
    squeeze = bytes(116 + (v * 24 >> 8) for v in range(256))
    pictures = []
    for index in range(count):
        shift = (index * 3) % WIDTH
        luma = bytearray(b"".join(row[shift : shift + WIDTH] for row in rows))
        for row in range(120, 240):
            start = row * WIDTH + 240
            luma[start : start + 160] = rng.randbytes(160).translate(squeeze)
        pictures.append(bytes(luma))
    return pictures


def video_clip(
    seconds: float = VIDEO_SECONDS,
    seed: int = 1,
    width: int = WIDTH,
    height: int = HEIGHT,
    bitrate: int = VIDEO_BITRATE,
) -> Clip:
    """The process's video clip at one size (encoded on first use, then shared by every
    bot): the full-size pictures, scaled down for a smaller layer."""
    return _video_clip(seconds, seed, width, height, bitrate)


@cache
def _video_clip(seconds: float, seed: int, width: int, height: int, bitrate: int) -> Clip:
    """`video_clip`, cached under one key however it was called."""
    codec = _vp8_encoder(width, height, bitrate)
    chroma = bytes([128]) * ((WIDTH // 2) * (HEIGHT // 2))
    frames = []
    for index, luma in enumerate(_pictures(round(seconds * FPS), seed)):
        picture = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        picture.planes[0].update(luma)
        picture.planes[1].update(chroma)
        picture.planes[2].update(chroma)
        if (width, height) != (WIDTH, HEIGHT):
            picture = picture.reformat(width=width, height=height)
        picture.pts = index
        picture.time_base = fractions.Fraction(1, FPS)
        frames.extend(EncodedFrame(bytes(p), p.is_keyframe) for p in codec.encode(picture))
    frames.extend(EncodedFrame(bytes(p), p.is_keyframe) for p in codec.encode(None))
    if not frames or not frames[0].keyframe:
        raise RuntimeError("the VP8 clip does not start with a keyframe")
    return Clip(tuple(frames), 1 / FPS)


def layer_clips(seconds: float = VIDEO_SECONDS, seed: int = 1) -> dict[str, Clip]:
    """The simulcast layers' clips, rid -> clip, smallest first (each encoded once)."""
    return {
        rid: video_clip(seconds, seed, width, height, bitrate)
        for rid, width, height, bitrate in LAYERS
    }


def talk_pattern(seconds: float, rng: random.Random) -> list[tuple[float, float]]:
    """(start, end) of talk spurts: 0.8-3 s of talk, 0.4-2 s of silence, alternating."""
    spurts = []
    now = rng.uniform(0.0, 1.0)
    while now < seconds:
        length = rng.uniform(0.8, 3.0)
        spurts.append((now, min(now + length, seconds)))
        now += length + rng.uniform(0.4, 2.0)
    return spurts


def _speech(seconds: float, rng: random.Random) -> array.array[int]:
    """16-bit PCM: voiced harmonics (f0 ~ 110-220 Hz) with a syllabic envelope, in spurts."""
    samples = array.array("h", bytes(2 * round(seconds * AUDIO_RATE)))
    for start, end in talk_pattern(seconds, rng):
        f0 = rng.uniform(110.0, 220.0)
        syllable_hz = rng.uniform(3.0, 5.0)
        gain = rng.uniform(0.15, 0.4)
        first, last = round(start * AUDIO_RATE), round(end * AUDIO_RATE)
        for n in range(first, last):
            t = n / AUDIO_RATE
            envelope = 0.5 - 0.5 * math.cos(2 * math.pi * syllable_hz * (t - start))
            phase = 2 * math.pi * f0 * t
            voiced = math.sin(phase) + 0.5 * math.sin(2 * phase) + 0.25 * math.sin(3 * phase)
            samples[n] = int(32767 * gain * envelope * voiced / 1.75)
    return samples


def level_dbov(pcm: array.array[int]) -> int:
    """RFC 6465 Appendix A: the frame's RMS in -dBov, 0..127 (127 for digital silence)."""
    if not pcm:
        return SILENCE_DBOV
    power = sum(s * s for s in pcm) / (len(pcm) * 32767 * 32767)
    if power <= 0:
        return SILENCE_DBOV
    return min(SILENCE_DBOV, max(0, round(-10 * math.log10(power))))


@cache
def audio_clip(seconds: float = AUDIO_SECONDS, seed: int = 1) -> Clip:
    """The process's Opus clip: speech-like spurts, each packet with its level."""
    pcm = _speech(seconds, random.Random(seed))
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate = AUDIO_RATE
    codec.layout = "mono"
    codec.format = "s16"
    codec.bit_rate = AUDIO_BITRATE
    codec.time_base = fractions.Fraction(1, AUDIO_RATE)
    frames = []
    levels = []
    for index in range(len(pcm) // AUDIO_FRAME_SAMPLES):
        chunk = pcm[index * AUDIO_FRAME_SAMPLES : (index + 1) * AUDIO_FRAME_SAMPLES]
        levels.append(level_dbov(chunk))
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME_SAMPLES)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = AUDIO_RATE
        frame.pts = index * AUDIO_FRAME_SAMPLES
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        frames.extend(bytes(p) for p in codec.encode(frame))
    frames.extend(bytes(p) for p in codec.encode(None))
    # libopus delays its output by a few ms; each packet keeps the level of its 20 ms slot.
    count = min(len(frames), len(levels))
    return Clip(
        tuple(EncodedFrame(frames[i], level=levels[i]) for i in range(count)),
        AUDIO_FRAME_SAMPLES / AUDIO_RATE,
    )
