"""The first README command on a fresh machine: the runtime dependencies alone must serve.

The test extras pull in packages of their own (greenlet came through the browser-test package),
so a test run in the development virtualenv cannot see a runtime dependency that is missing.
This builds a separate virtualenv from the source tree with ``pip install .`` and nothing else,
starts ``mosaic serve`` from it and asks for ``/healthz``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import httpx

from tests.helpers.server import free_port

ROOT = Path(__file__).resolve().parents[2]


def _copy_source(target: Path) -> None:
    """What git tracks and what is about to be committed, without build leftovers."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def test_runtime_dependencies_alone_serve_a_meeting(tmp_path: Path) -> None:
    source, environment = tmp_path / "src", tmp_path / "venv"
    _copy_source(source)
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-3000:]

    port = free_port()
    command = [
        str(environment / "bin" / "mosaic"), "serve",
        "--port", str(port),
        "--data-dir", str(tmp_path / "data"),
        "--media-addresses", "127.0.0.1",
    ]  # fmt: skip
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
    )
    output: list[str] = []
    try:
        assert server.stdout is not None
        for line in server.stdout:
            output.append(line)
            if "Mosaic is running at" in line or len(output) > 200:
                break
        assert f"Mosaic is running at http://127.0.0.1:{port}" in "".join(output), "".join(output)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.json() == {"status": "ok"}
    finally:
        server.terminate()
        server.wait(timeout=15)
    assert sys.prefix != str(environment)  # the suite itself did not run from the fresh venv
