"""``mosaic cluster status``: the live workers, their load, and the meetings each holds, as
the registry in Redis says — what an operator looks at before adding or removing workers."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Any

from mosaic.cluster.link import RedisLink
from mosaic.cluster.placement import Placement
from mosaic.cluster.registry import Registry


async def cluster_status(url: str) -> list[dict[str, Any]]:
    """Every live worker's heartbeat figures and its meetings. Raises `ClusterUnavailable`."""
    link = RedisLink(url)
    try:
        # A reader, not a worker: it never beats, so its id is never announced.
        registry = Registry(link, "status", dict, dict)
        placement = Placement(link, registry)
        workers = []
        for worker in await registry.live():
            meetings = sorted(await placement.meetings_of(worker.id))
            workers.append({**asdict(worker), "meeting_ids": meetings})
        return workers
    finally:
        await link.close()


def render_status(workers: list[dict[str, Any]], as_json: bool = False) -> str:
    if as_json:
        return json.dumps({"workers": workers}, indent=2)
    if not workers:
        return "no live worker"
    # MEDIA-PARTICIPANTS: whose media this worker terminates (weighed against
    # --worker-capacity); SLICES: meetings homed elsewhere whose media spread here.
    header = ("WORKER", "CPU%", "PKT/S", "PARTICIPANTS", "MEETINGS", "MEDIA-PARTICIPANTS",
              "SLICES", "UP", "HTTP", "MEDIA", "UDP")  # fmt: skip
    rows = [header]
    now = time.time()
    for worker in workers:
        up = int(now - worker["started"]) if worker["started"] else 0
        name = worker["id"] + (" (draining)" if worker["draining"] else "")
        rows.append((name, f"{worker['cpu']:.1f}", f"{worker['pps']:.0f}",
                     str(worker["participants"]), str(worker["meetings"]),
                     str(worker.get("media_participants", 0)), str(worker.get("slices", 0)),
                     f"{up}s",
                     worker["http"], worker["media"], worker["udp"] or "any"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
             for row in rows]  # fmt: skip
    for worker in workers:
        if worker["meeting_ids"]:
            lines.append(f"{worker['id']}: " + " ".join(worker["meeting_ids"]))
    return "\n".join(line.rstrip() for line in lines)
