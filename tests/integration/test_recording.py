"""Recording a live meeting: two Python participants publish for ten seconds while the
server's recorder writes their sources to WebM, without transcoding."""

from __future__ import annotations

import array
import asyncio
import json
import subprocess
import sys
from pathlib import Path

import av

from mosaic.client import join, parse_join_url
from mosaic.media.sfu.recorder import Recorder
from tests.helpers.api import signup
from tests.helpers.clap import ClapAudioTrack, Clapper, ClapVideoTrack
from tests.helpers.inprocess import serve_services_in_process
from tests.helpers.participants import frames_from

LOOPBACK = ["127.0.0.1"]
RECORD_S = 10.0
FPS = 20


def video_frames(path: Path) -> tuple[list[float], list[float], bool]:
    """Each decoded frame's time and mean luma, and whether the first packet is a keyframe."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first_key = next(iter(container.demux(stream))).is_keyframe
    with av.open(str(path)) as container:
        times, lumas = [], []
        for frame in container.decode(video=0):
            times.append(float(frame.time))
            luma = bytes(frame.planes[0])[::97]
            lumas.append(sum(luma) / len(luma))
    return times, lumas, first_key


def audio_samples(path: Path) -> tuple[list[float], int, float]:
    """The decoded samples (first channel), their rate, and the first frame's time."""
    samples: list[float] = []
    with av.open(str(path)) as container:
        rate, start = 48000, None
        for frame in container.decode(audio=0):
            assert frame.format.name == "fltp"
            if start is None:
                start = float(frame.time)
            rate = frame.sample_rate
            plane = array.array("f", bytes(frame.planes[0]))
            samples.extend(plane[: frame.samples])
    return samples, rate, start or 0.0


def claps(times: list[float], on: list[bool]) -> list[float]:
    return [t for i, t in enumerate(times) if on[i] and (i == 0 or not on[i - 1])]


async def test_two_publishers_are_recorded_playable_aligned_and_from_a_keyframe(
    tmp_path: Path,
) -> None:
    """Each of Ann's and Bob's camera and microphone becomes one WebM file that decodes to
    the recorded duration (±0.5 s) and frame rate (±10 %), starts with a keyframe, and whose
    claps (a white frame and a loud tone made at the same instant) line up within 100 ms."""
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        a = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with a, b:
            for person in (a, b):
                clapper = Clapper()
                await person.publish(audio=ClapAudioTrack(clapper), video=ClapVideoTrack(clapper))
            await frames_from(b, a, 2)
            await frames_from(a, b, 2)
            room = services.rooms.get(meeting_id)
            assert room is not None and room.media is not None
            names = {a.id: "Ann", b.id: "Bob"}
            directory = tmp_path / "recordings" / "r1"
            recorder = Recorder(room.media, meeting_id, directory, lambda pid: names[pid])
            await recorder.start()
            await asyncio.sleep(RECORD_S)
            manifest_path = await recorder.stop()
        await host.client.aclose()

    manifest = json.loads(manifest_path.read_text())
    elapsed = manifest["stopped_at"] - manifest["started_at"]
    assert {p["name"] for p in manifest["participants"]} == {"Ann", "Bob"}
    files = manifest["files"]
    assert sorted((f["name"], f["kind"]) for f in files) == [
        ("Ann", "audio"), ("Ann", "video"), ("Bob", "audio"), ("Bob", "video"),
    ]  # fmt: skip
    for person in ("Ann", "Bob"):
        video = next(f for f in files if f["name"] == person and f["kind"] == "video")
        audio = next(f for f in files if f["name"] == person and f["kind"] == "audio")
        times, lumas, first_key = video_frames(directory / video["file"])
        assert first_key
        expected = elapsed - video["offset_s"]
        duration = times[-1] - times[0] + 1 / FPS
        assert abs(duration - expected) <= 0.5, (duration, expected)
        assert abs(len(times) - expected * FPS) <= 0.1 * expected * FPS, (len(times), expected)
        samples, rate, start = audio_samples(directory / audio["file"])
        audio_duration = len(samples) / rate
        assert abs(audio_duration - (elapsed - audio["offset_s"])) <= 0.5
        # The claps, on the recording's timeline.
        flashes = [video["offset_s"] + t for t in claps(times, [v > 128 for v in lumas])]
        peak = max(abs(x) for x in samples)
        loud = [abs(x) > 0.3 * peak for x in samples]
        window = rate // 100  # 10 ms
        on = [any(loud[i : i + window]) for i in range(0, len(loud), window)]
        tones = [
            audio["offset_s"] + start + t for t in claps([i / 100 for i in range(len(on))], on)
        ]
        assert flashes and tones, (flashes, tones)
        offsets = [min(abs(f - t) for t in tones) for f in flashes]
        print(
            f"{person}: video {duration:.2f}/{expected:.2f} s, {len(times)} frames, audio "
            f"{audio_duration:.2f} s, clap offsets {[round(o, 3) for o in offsets]}"
        )
        assert max(offsets) < 0.1, (person, flashes, tones)

    # `mosaic recordings render` composes one playable file (offline: decode + encode).
    rendered = subprocess.run(
        [
            *(sys.executable, "-m", "mosaic", "recordings", "render", "r1"),
            *("--data-dir", str(tmp_path), "--size", "640x360"),
        ],
        capture_output=True,
        text=True,
        timeout=100,
        check=True,
    )
    assert "100%" in rendered.stderr  # the progress bar got to the end
    gallery = Path(rendered.stdout.strip())
    assert gallery == directory / "gallery.webm"
    with av.open(str(gallery)) as container:
        kinds = sorted(s.type for s in container.streams)
        frames = list(container.decode(video=0))
    assert kinds == ["audio", "video"]
    assert (frames[0].width, frames[0].height) == (640, 360)
    assert abs(float(frames[-1].time) - elapsed) <= 0.5
