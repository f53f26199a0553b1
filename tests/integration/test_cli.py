"""`mosaic serve` as an operator runs it: flags or MOSAIC_* variables, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import websockets

from mosaic.signaling.protocol import SUBPROTOCOL
from tests.helpers.server import free_port


def wait_for_banner(process: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "Mosaic is running at" in line:
            return line.strip()
    raise AssertionError("no banner")


async def test_environment_configures_the_server_and_sigterm_exits_cleanly(
    tmp_path: Path,
) -> None:
    port = free_port()
    data_dir = tmp_path / "instance"
    env = {
        **os.environ,
        "MOSAIC_PORT": str(port),
        "MOSAIC_DATA_DIR": str(data_dir),
        "MOSAIC_PUBLIC_URL": "https://meet.example.org",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "mosaic", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert wait_for_banner(process) == "Mosaic is running at https://meet.example.org"
        assert (data_dir / "mosaic.db").exists()  # created and migrated on first start
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = await client.get("/healthz")
            assert health.json() == {"status": "ok"}
            assert "max-age" in health.headers["strict-transport-security"]
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/ws",
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        ) as connection:
            process.send_signal(signal.SIGTERM)
            # An open signaling connection is closed by the server, not cut.
            closed = None
            try:
                await connection.recv()
            except websockets.ConnectionClosed as exc:
                closed = exc
            assert closed is not None and closed.rcvd is not None
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_help_lists_every_flag_with_its_environment_twin() -> None:
    output = subprocess.run(
        [sys.executable, "-m", "mosaic", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for flag, variable in (
        ("--host", "MOSAIC_HOST"),
        ("--port", "MOSAIC_PORT"),
        ("--data-dir", "MOSAIC_DATA_DIR"),
        ("--public-url", "MOSAIC_PUBLIC_URL"),
    ):
        assert flag in output and variable in output


def test_second_start_reuses_the_migrated_database(tmp_path: Path) -> None:
    for _ in range(2):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "mosaic", "serve", "--port", str(port), "--data-dir",
             str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )  # fmt: skip
        wait_for_banner(process)
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0


async def test_tls_serves_https_and_wss(tmp_path: Path) -> None:
    import ssl

    from tests.helpers.tls import self_signed

    cert, key = self_signed(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mosaic", "serve", "--port", str(port), "--data-dir",
         str(tmp_path / "data"), "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    try:
        assert wait_for_banner(process) == f"Mosaic is running at https://127.0.0.1:{port}"
        context = ssl.create_default_context(cafile=str(cert))
        async with httpx.AsyncClient(verify=context) as client:
            response = await client.get(f"https://127.0.0.1:{port}/healthz")
            assert response.json() == {"status": "ok"}
            assert "max-age" in response.headers["strict-transport-security"]
        async with websockets.connect(
            f"wss://127.0.0.1:{port}/ws",
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            ssl=context,
        ) as connection:
            assert connection.subprotocol == SUBPROTOCOL
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()


async def test_json_logs_carry_correlation_ids(tmp_path: Path) -> None:
    import json

    from mosaic.client import join
    from tests.helpers.api import signup

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mosaic", "serve", "--port", str(port), "--data-dir",
         str(tmp_path), "--log-format", "json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        wait_for_banner(process)
        host = await signup(f"http://127.0.0.1:{port}")
        meeting = await host.create_meeting(waiting_room=False)
        async with await join(meeting["join_url"], name="Ann") as ann:
            participant = ann.id
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    entries = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert entries and all("level" in e and "message" in e for e in entries)
    joined = [e for e in entries if e.get("participant_id") == participant]
    assert joined and joined[0]["meeting_id"] == meeting["id"]


def test_the_server_runs_on_the_event_loop_it_is_given(tmp_path: Path) -> None:
    """asyncio's own loop by default, uvloop with ``--event-loop uvloop`` (installed here:
    uvicorn[standard] brings it); the server says which, and stops cleanly on both. A name
    that is no loop is refused before anything starts."""
    for flag, expected in (((), "asyncio"), (("--event-loop", "uvloop"), "uvloop")):
        process = subprocess.Popen(
            [sys.executable, "-m", "mosaic", "serve", "--port", str(free_port()),
             "--data-dir", str(tmp_path), *flag],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        try:
            assert process.stdout is not None
            said = []
            while not said or "Mosaic is running at" not in said[-1]:
                said.append(process.stdout.readline())
                assert said[-1], "".join(said)
            assert f"event loop: {expected}" in "".join(said)
            process.send_signal(signal.SIGTERM)
            assert process.wait(15) == 0
        finally:
            if process.poll() is None:
                process.kill()
    refused = subprocess.run(
        [sys.executable, "-m", "mosaic", "serve", "--event-loop", "tokio"],
        capture_output=True,
        check=False,
        text=True,
    )
    assert refused.returncode == 2 and "not an event loop" in refused.stderr
