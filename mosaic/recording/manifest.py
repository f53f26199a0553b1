"""``manifest.json``: what a recording holds, written whole and atomically.

One entry per file: whose source it is (the participant's name at the time), its kind, size
and its offset in seconds from the recording's start, so that a player or the render can lay
the files on one timeline. Rewritten (to a temporary file, then renamed) whenever a file
opens or the recording stops, so a crash leaves the last complete manifest, never half of one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    path = directory / MANIFEST
    temporary = directory / (MANIFEST + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    return result
