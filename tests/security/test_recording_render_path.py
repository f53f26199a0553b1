"""`mosaic recordings render <id>`: the id names a directory under the data directory's
recordings, and nothing else; an id that climbs out of it is refused before anything is read
or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mosaic.cli import main


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
