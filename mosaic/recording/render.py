"""`mosaic recordings render <id>`: one playable gallery file from a recording, offline.

The SFU never decodes; this does, after the meeting, on whatever machine runs it. One pass
over the recording's timeline in half-second steps keeps memory flat whatever its length:
each step mixes everyone's audio, picks the active speaker from it (the loudest, kept for a
second at least so the layout does not flicker), then draws the step's video frames (the
speaker large on the left, the others in a column; a grid when nobody speaks) and encodes
both into a WebM file (VP8 + Opus).
"""

from __future__ import annotations

import array
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from mosaic.recording.manifest import read_manifest

SIZE = (1280, 720)
FPS = 15
RATE = 48000
STEP_S = 0.5
AUDIO_FRAME = 960
HOLD_S = 1.0  # a new active speaker must be the loudest this long
SPEECH_RMS = 300.0  # below this (16-bit RMS) nobody is speaking
OUTPUT = "gallery.webm"


@dataclass
class _Video:
    """One participant's video files, decoded in time order, the latest frame kept."""

    files: list[tuple[float, Path]]
    frames: Iterator[tuple[float, Any]] = field(init=False)
    pending: tuple[float, Any] | None = None
    current: Any = None

    def __post_init__(self) -> None:
        self.frames = self._decode()

    def _decode(self) -> Iterator[tuple[float, Any]]:
        for offset, path in sorted(self.files, key=lambda f: f[0]):
            try:
                with av.open(str(path)) as container:
                    for frame in container.decode(video=0):
                        yield offset + float(frame.time or 0.0), frame
            except (av.error.FFmpegError, StopIteration):
                continue  # a damaged tail (a crash): what decoded is kept

    def at(self, t: float) -> Any:
        while True:
            if self.pending is None:
                self.pending = next(self.frames, None)
                if self.pending is None:
                    return self.current
            if self.pending[0] > t:
                return self.current
            self.current = self.pending[1]
            self.pending = None


class _Audio:
    """One participant's audio, resampled to 48 kHz mono s16, as (start sample, samples)."""

    def __init__(self, files: list[tuple[float, Path]]) -> None:
        self.chunks = self._decode(files)
        self.pending: tuple[int, array.array[int]] | None = None

    @staticmethod
    def _decode(files: list[tuple[float, Path]]) -> Iterator[tuple[int, array.array[int]]]:
        for offset, path in sorted(files, key=lambda f: f[0]):
            resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
            try:
                with av.open(str(path)) as container:
                    for frame in container.decode(audio=0):
                        start = round((offset + float(frame.time or 0.0)) * RATE)
                        for out in resampler.resample(frame):
                            samples = array.array("h", bytes(out.planes[0])[: 2 * out.samples])
                            yield start, samples
                            start += out.samples
            except av.error.FFmpegError:
                continue

    def mix_into(self, mix: array.array[int], first: int) -> float:
        """Add this participant's samples in [first, first + len(mix)); their RMS."""
        end = first + len(mix)
        energy, count = 0.0, 0
        while True:
            if self.pending is None:
                self.pending = next(self.chunks, None)
                if self.pending is None:
                    break
            start, samples = self.pending
            if start >= end:
                break
            for i in range(max(start, first), min(start + len(samples), end)):
                value = samples[i - start]
                mix[i - first] += value
                energy += value * value
                count += 1
            if start + len(samples) > end:
                break
            self.pending = None
        return math.sqrt(energy / count) if count else 0.0


def layout(
    people: list[str], speaker: str | None, size: tuple[int, int] = SIZE
) -> dict[str, tuple[int, int, int, int]]:
    """Each person's tile (x, y, width, height), even numbers (4:2:0 chroma)."""
    width, height = size
    if not people:
        return {}
    tiles: dict[str, tuple[int, int, int, int]] = {}
    if speaker in people and len(people) > 1:
        others = [p for p in people if p != speaker]
        big_w = width * 3 // 4 // 2 * 2
        tiles[speaker] = (0, 0, big_w, height)
        side_h = height // len(others) // 2 * 2
        for index, person in enumerate(others):
            tiles[person] = (big_w, index * side_h, (width - big_w) // 2 * 2, side_h)
        return tiles
    columns = math.ceil(math.sqrt(len(people)))
    rows = math.ceil(len(people) / columns)
    tile_w, tile_h = width // columns // 2 * 2, height // rows // 2 * 2
    for index, person in enumerate(people):
        tiles[person] = ((index % columns) * tile_w, (index // columns) * tile_h, tile_w, tile_h)
    return tiles


def _paint(
    planes: list[bytearray], canvas_width: int, frame: Any, tile: tuple[int, int, int, int]
) -> None:
    x, y, width, height = tile
    scaled = frame.reformat(width=width, height=height, format="yuv420p")
    half = canvas_width // 2
    for index, (plane_w, scale) in enumerate(((canvas_width, 1), (half, 2), (half, 2))):
        source = scaled.planes[index]
        data, stride = bytes(source), source.line_size
        w, px, py = width // scale, x // scale, y // scale
        target = planes[index]
        for row in range(height // scale):
            at = (py + row) * plane_w + px
            target[at : at + w] = data[row * stride : row * stride + w]


class _Speaker:
    """The active speaker: the loudest above `SPEECH_RMS`, taking over after `HOLD_S`."""

    def __init__(self) -> None:
        self.current: str | None = None
        self._challenger: tuple[str, float] | None = None

    def update(self, levels: dict[str, float], t: float) -> str | None:
        loudest = max(levels, key=levels.__getitem__, default=None)
        if loudest is None or levels[loudest] < SPEECH_RMS:
            self._challenger = None
        elif loudest != self.current:
            if self._challenger is None or self._challenger[0] != loudest:
                self._challenger = (loudest, t)
            if self.current is None or t - self._challenger[1] >= HOLD_S:
                self.current, self._challenger = loudest, None
        return self.current


def _audio_frames(mix: array.array[int], first_pts: int) -> Iterator[Any]:
    pcm = array.array("h", (max(-32768, min(32767, v)) for v in mix))
    for at in range(0, len(pcm), AUDIO_FRAME):
        frame = av.AudioFrame(format="s16", layout="mono", samples=AUDIO_FRAME)
        frame.planes[0].update(pcm[at : at + AUDIO_FRAME].tobytes())
        frame.sample_rate, frame.pts = RATE, first_pts + at
        frame.time_base = Fraction(1, RATE)
        yield frame


def _canvas(
    size: tuple[int, int], tiles: dict[str, tuple[int, int, int, int]], frames: dict[str, Any]
) -> Any:
    width, height = size
    quarter = width * height // 4
    planes = [bytearray(width * height), bytearray(b"\x80" * quarter), bytearray(b"\x80" * quarter)]
    for pid, tile in tiles.items():
        _paint(planes, width, frames[pid], tile)
    canvas = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(planes):
        canvas.planes[index].update(bytes(plane))
    return canvas


def _sources(
    manifest: dict[str, Any], directory: Path, pid: str, kind: str
) -> list[tuple[float, Path]]:
    # Only plain names in the recording's own directory: a manifest that names another path
    # is not followed there.
    return [
        (f["offset_s"], directory / f["file"])
        for f in manifest["files"]
        if f["participant_id"] == pid and f["kind"] == kind and _plain(f["file"])
    ]


def _plain(name: str) -> bool:
    return Path(name).name == name and name.endswith(".webm") and not name.startswith(".")


def render(
    directory: Path,
    output: Path | None = None,
    progress: Callable[[float], None] | None = None,
    size: tuple[int, int] = SIZE,
) -> Path:
    """Compose the recording in ``directory`` into one WebM file of ``size`` pixels; returns
    its path. ``progress`` hears the fraction done (0..1) after every step."""
    manifest = read_manifest(directory)
    output = output or directory / OUTPUT
    people = [p["id"] for p in manifest["participants"]]
    end = max(
        [(manifest.get("stopped_at") or 0.0) - manifest["started_at"]]
        + [f["offset_s"] + f["duration_s"] for f in manifest["files"]]
    )
    videos = {pid: _Video(_sources(manifest, directory, pid, "video")) for pid in people}
    audios = {pid: _Audio(_sources(manifest, directory, pid, "audio")) for pid in people}
    speaker = _Speaker()
    with av.open(str(output), "w", format="webm") as container:
        video = container.add_stream(
            "libvpx", rate=FPS, options={"deadline": "realtime", "cpu-used": "8"}
        )
        video.width, video.height = size  # type: ignore[attr-defined]
        video.pix_fmt = "yuv420p"  # type: ignore[attr-defined]
        video.bit_rate = 1_500_000
        audio = container.add_stream("libopus", rate=RATE, layout="mono")
        frame_index = 0
        steps = max(1, math.ceil(end / STEP_S))
        for step in range(steps):
            t0 = step * STEP_S
            first = round(t0 * RATE)
            mix = array.array("i", bytes(4 * round(STEP_S * RATE)))
            levels = {pid: stream.mix_into(mix, first) for pid, stream in audios.items()}
            active = speaker.update(levels, t0)
            for frame in _audio_frames(mix, first):
                container.mux(audio.encode(frame))
            while frame_index / FPS < min(t0 + STEP_S, end):
                t = frame_index / FPS
                frames = {pid: v.at(t) for pid, v in videos.items()}
                shown = [pid for pid in people if frames[pid] is not None]
                canvas = _canvas(size, layout(shown, active, size), frames)
                canvas.pts, canvas.time_base = frame_index, Fraction(1, FPS)
                container.mux(video.encode(canvas))
                frame_index += 1
            if progress is not None:
                progress(min(1.0, (step + 1) / steps))
        container.mux(video.encode(None))
        container.mux(audio.encode(None))
    return output


def progress_bar(stream: Any, width: int = 40) -> Callable[[float], None]:
    """A terminal progress bar on ``stream`` (one line, redrawn)."""

    def show(fraction: float) -> None:
        filled = round(fraction * width)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {fraction:4.0%}")
        if fraction >= 1.0:
            stream.write("\n")
        stream.flush()

    return show
