"""`mosaic serve --workers N`: N processes behind one port (SO_REUSEPORT), each a live worker
in Redis with its slice of the UDP ports, a dead one replaced, the whole cluster on every
worker's /metrics and in `mosaic cluster status`; and no half-cluster without Redis."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.helpers.cluster import cluster_status, wait_for_workers, workers_answering
from tests.helpers.redis import RedisServer
from tests.helpers.server import MosaicServer


def test_more_than_one_worker_without_redis_is_refused_at_start(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if k != "MOSAIC_REDIS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "mosaic", "serve", "--data-dir", str(tmp_path), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        env=environ,
        check=False,
    )
    assert done.returncode == 2
    assert "--workers 2 needs --redis-url" in done.stderr
    assert not (tmp_path / "mosaic.db").exists()  # nothing started


def test_workers_share_one_port_and_a_killed_one_is_replaced(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    server = MosaicServer(
        tmp_path, "--redis-url", redis_server.url, "--workers", "2", "--udp-ports", "41000-41009"
    ).start(timeout=60)
    try:
        assert server.log.count("Mosaic is running at") == 1
        answering = workers_answering(server.url, 2)
        assert len(answering) == 2
        workers = wait_for_workers(redis_server.url, 2)
        assert {w["id"] for w in workers} == answering
        assert sorted(w["udp"] for w in workers) == ["41000-41004", "41005-41009"]
        # Every worker's /metrics shows the whole cluster.
        for _ in range(20):
            with httpx.Client() as client:
                text = client.get(f"{server.url}/metrics").text
            assert "mosaic_cluster_workers 2.0" in text
            for worker in answering:
                assert f'mosaic_cluster_worker_participants{{worker="{worker}"}} 0.0' in text

        victim = sorted(answering)[0]
        os.kill(int(victim.rsplit("-", 2)[1]), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = {w["id"] for w in cluster_status(redis_server.url)}
            if len(live) == 2 and victim not in live:
                break
            time.sleep(0.3)
        assert victim not in live and len(live) == 2, live
        assert workers_answering(server.url, 2) == live
        assert "exited with -9; starting another" in server.log
        assert server.process is not None and server.process.poll() is None
    finally:
        status = server.stop(timeout=40)
    assert status == 0
    assert cluster_status(redis_server.url) == []  # each worker left the registry cleanly
    assert not re.search(r"Traceback", server.log), server.log[-3000:]


def test_workers_stop_when_their_supervisor_is_killed(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Nobody would stop orphaned workers, and they would hold the port: they stop."""
    server = MosaicServer(tmp_path, "--redis-url", redis_server.url, "--workers", "2").start(
        timeout=60
    )
    pids: list[int] = []
    try:
        pids += [int(w["id"].rsplit("-", 2)[1]) for w in wait_for_workers(redis_server.url, 2)]
        assert len(pids) == 2
        assert server.process is not None
        server.process.kill()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_running(pid) for pid in pids):
            time.sleep(0.2)
        assert not any(_running(pid) for pid in pids)
        assert cluster_status(redis_server.url) == []
    finally:
        server.stop()
        for pid in pids:  # an orphan left by a failure
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
