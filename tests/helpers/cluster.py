"""Looking at a cluster from outside, as an operator or a load balancer would: which worker
answers a new connection (/healthz), and what `mosaic cluster status` says."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import httpx


def worker_of(url: str) -> str:
    """The id of the worker that answers a new connection's /healthz."""
    with httpx.Client(timeout=5.0) as client:  # a client of its own: a new connection
        return str(client.get(f"{url}/healthz").json()["worker"])


def workers_answering(url: str, expected: int, attempts: int = 200) -> set[str]:
    """Worker ids seen over new connections, until ``expected`` distinct ones answered (the
    kernel spreads connections by a hash of their ports: a few dozen suffice)."""
    seen: set[str] = set()
    for _ in range(attempts):
        seen.add(worker_of(url))
        if len(seen) >= expected:
            break
    return seen


def cluster_status(redis_url: str) -> list[dict[str, Any]]:
    """`mosaic cluster status --json`, run as an operator runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "mosaic", "cluster", "status", "--redis-url", redis_url, "--json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return list(json.loads(done.stdout)["workers"])


def wait_for_workers(redis_url: str, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    """The live workers once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        workers = cluster_status(redis_url)
        if len(workers) == count or time.monotonic() > deadline:
            return workers
        time.sleep(0.2)
