"""`mosaic recordings render <id>`: the id names a directory under the data directory's
recordings, and nothing else; an id that climbs out of it is refused before anything is read
or written, and a manifest's file names are read only inside the recording's directory."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

from mosaic.cli import main
from mosaic.recording.render import render
from mosaic.recording.writer import DiskWriter


@pytest.mark.parametrize("recording_id", ["../outside", "..", "/tmp/x", "r1/../../outside"])
def test_a_recording_id_that_is_a_path_is_refused(
    tmp_path: Path, recording_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "recordings" / "r1").mkdir(parents=True)
    manifest = {"started_at": 0.0, "stopped_at": 1.0, "participants": [], "files": []}
    (outside / "manifest.json").write_text(json.dumps(manifest))
    argv = ["recordings", "render", recording_id, "--data-dir", str(tmp_path), "--size", "64x64"]
    assert main(argv) == 2
    assert "not a recording id" in capsys.readouterr().err
    assert sorted(p.name for p in outside.iterdir()) == ["manifest.json"]  # nothing rendered


@pytest.mark.parametrize("name", ["../../outside/secret.webm", "/OUTSIDE/secret.webm"])
def test_a_manifest_that_names_a_file_elsewhere_is_not_followed(tmp_path: Path, name: str) -> None:
    """A manifest edited to point at a video outside the recording (another recording, any
    file the renderer may read): the render shows nothing of it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.webm"
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 160, 90, "yuv420p"
    encoder.time_base = Fraction(1, 10)
    writer = DiskWriter()
    writer.open("s", secret, "video", (160, 90))
    for i in range(10):
        frame = av.VideoFrame(160, 90, "yuv420p")
        frame.planes[0].update(bytes([235]) * (160 * 90))  # white
        frame.pts = i
        for packet in encoder.encode(frame):
            writer.write("s", i * 100, bytes(packet), packet.is_keyframe)
    writer.stop(timeout=10)
    recording = tmp_path / "recordings" / "r1"
    recording.mkdir(parents=True)
    entry = {
        "file": name.replace("/OUTSIDE", str(outside)),
        "participant_id": "p1", "name": "Eve", "source": "camera", "kind": "video",
        "offset_s": 0.0, "duration_s": 1.0, "frames": 10,
    }  # fmt: skip
    manifest = {
        "started_at": 0.0, "stopped_at": 1.0,
        "participants": [{"id": "p1", "name": "Eve"}], "files": [entry],
    }  # fmt: skip
    (recording / "manifest.json").write_text(json.dumps(manifest))
    output = render(recording, size=(64, 64))
    with av.open(str(output)) as container:
        lumas = [max(bytes(frame.planes[0])) for frame in container.decode(video=0)]
    assert lumas and max(lumas) < 64  # black: the secret (white) was never drawn
