"""The supervisor's arithmetic and the operator's view, without processes: UDP slices, the
`--workers` setting, load figures, and what `mosaic cluster status` prints."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import pytest

from mosaic.cluster.registry import RateMeter, WorkerLoad
from mosaic.cluster.status import render_status
from mosaic.cluster.workers import split_ports
from mosaic.config import Settings, add_arguments, settings_from
from tests.helpers.server import free_port


def _settings(*argv: str, **environ: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(argv), environ)


def test_udp_ports_are_split_evenly_without_overlap() -> None:
    assert split_ports("50000-50199", 4) == [
        "50000-50049",
        "50050-50099",
        "50100-50149",
        "50150-50199",
    ]
    assert split_ports("41000-41010", 3) == ["41000-41003", "41004-41007", "41008-41010"]
    assert split_ports(None, 3) == [None, None, None]
    with pytest.raises(ValueError, match="fewer ports"):
        split_ports("50000-50002", 4)


def test_workers_and_redis_url_from_flags_or_environment() -> None:
    assert (_settings().workers, _settings().redis_url) == (1, None)
    assert _settings("--workers", "auto").workers == (os.cpu_count() or 1)
    configured = _settings(MOSAIC_WORKERS="3", MOSAIC_REDIS_URL="redis://r:6379/0")
    assert (configured.workers, configured.redis_url) == (3, "redis://r:6379/0")
    assert _settings("--workers", "1", MOSAIC_WORKERS="3").workers == 1  # the flag wins
    with pytest.raises(SystemExit):
        _settings("--workers", "0")


def test_the_packet_rate_is_the_counter_growth_per_second() -> None:
    count = [1000.0]
    meter = RateMeter(lambda: count[0])
    time.sleep(0.2)
    count[0] += 500
    assert 1500 < meter.rate() <= 2600
    count[0] = 10  # a room closed and its counters went with it: no negative rate
    assert meter.rate() == 0.0


def test_a_heartbeat_is_read_back_as_figures() -> None:
    load = WorkerLoad.parse(
        "h-1-ab",
        {b"http": b"http://h:8080", b"cpu": b"37.5", b"pps": b"1200", b"participants": b"8",
         b"meetings": b"2", b"draining": b"1", b"started": b"100", b"udp": b"", b"bad": b"x",
         b"media_participants": b"6", b"slices": b"3", b"at": b"1700000000.5"},
    )  # fmt: skip
    assert (load.cpu, load.pps, load.participants, load.meetings, load.draining) == (
        37.5, 1200.0, 8, 2, True,
    )  # fmt: skip
    assert (load.media_participants, load.slices, load.at) == (6, 3, 1700000000.5)
    assert WorkerLoad.parse("w", {b"cpu": b"not a number"}).cpu == 0.0


def test_status_lists_workers_with_their_load_and_meetings() -> None:
    worker = {
        "id": "h-1-ab", "http": "http://h:8080", "media": "10.0.0.5", "udp": "50000-50049",
        "cpu": 37.5, "pps": 1200.0, "participants": 8, "meetings": 2, "draining": True,
        "started": time.time() - 60, "meeting_ids": ["m-1", "m-2"], "media_participants": 5,
        "slices": 1,
    }  # fmt: skip
    text = render_status([worker])
    header, row, meetings = text.splitlines()
    assert header.split()[:7] == [
        "WORKER", "CPU%", "PKT/S", "PARTICIPANTS", "MEETINGS", "MEDIA-PARTICIPANTS", "SLICES",
    ]  # fmt: skip
    assert row.split()[:9] == ["h-1-ab", "(draining)", "37.5", "1200", "8", "2", "5", "1", "60s"]
    assert meetings == "h-1-ab: m-1 m-2"
    assert json.loads(render_status([worker], as_json=True))["workers"][0]["meeting_ids"] == [
        "m-1", "m-2",
    ]  # fmt: skip
    assert render_status([]) == "no live worker"


def test_status_without_redis_says_so_and_never_echoes_the_password() -> None:
    closed = free_port()
    done = subprocess.run(
        [sys.executable, "-m", "mosaic", "cluster", "status",
         "--redis-url", f"redis://:hunter2-secret@127.0.0.1:{closed}/0"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Redis cannot be reached" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout
