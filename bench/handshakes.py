"""Handshakes under a join storm: how many media connections never come up on their own.

``python -m bench.handshakes --rounds 40 --bots 8`` (about 3 minutes on 2 cores): one server
process, one meeting; each round, ``--bots`` bots join at once (8 joins in flight: every
answer is slow to reach the server, the condition of the fault below), publish the clip and
subscribe to everyone; the round waits until every bot's publish and subscribe connection is
connected (at most 25 s). A connection the client's watchdog had to replace (not connected
10 s after it was negotiated, see `mosaic.client.watchdog`) is a *stalled* handshake; its
DTLS handshake log (`mosaic.rtc.handshake_log`) is printed by the watchdog and, for the
server's side, by the server when it closes the transport.

This is the figure of the fault "ICE completed, DTLS connecting forever" of
docs/performance.md: 2 runs in ~40 of the forwarding benchmark before the fix (5f5c607),
reproduced here at 1-2 stalled rounds in 15-20 of 8 bots. Not part of ``make bench``'s plan:
run it after a change to ICE, DTLS or the joins. ``--event-loop asyncio`` (or ``uvloop``)
runs the server on that loop rather than its default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.meetings import mosaic_bots, open_meeting
from bench.servers import MosaicProcess
from mosaic.bots.base import Bot
from mosaic.bots.swarm import start_all, stop_all

CONNECT_WAIT_S = 25.0


def _states(bots: list[Bot]) -> list[str]:
    found = []
    for bot in bots:
        participant = getattr(bot, "participant", None)
        if participant is None:
            found.append("not joined")
            continue
        for pc in (participant.media.publisher, participant.media.subscriber):
            found.append(pc.connectionState if pc is not None else "none")
    return found


async def _connected(bots: list[Bot], timeout: float, poll: float = 0.2) -> None:
    """Wait until every connection of ``bots`` is connected, or ``timeout`` has passed."""
    for _ in range(int(timeout / poll)):
        if all(state == "connected" for state in _states(bots)):
            return
        await asyncio.sleep(poll)


def _replaced(bots: list[Bot]) -> int:
    return sum(
        watchdog.replaced
        for bot in bots
        if getattr(bot, "participant", None) is not None
        for watchdog in bot.participant.media.watchdogs.values()  # type: ignore[attr-defined]
    )


async def run(rounds: int, count: int, event_loop: str | None = None) -> dict[str, Any]:
    """Join storms against one server; the count of stalled handshakes, round by round."""
    per_round: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        server = MosaicProcess(Path(data_dir), event_loop=event_loop).start()
        try:
            meeting = await open_meeting(server.url)
            for index in range(rounds):
                bots = mosaic_bots(meeting, count, "127.0.0.1")
                started_at = time.monotonic()
                started = await start_all(bots, concurrency=count)
                await _connected(started, CONNECT_WAIT_S)
                states = _states(started)
                per_round.append(
                    {
                        "joined": len(started),
                        "connections": len(states),
                        "all_connected": all(state == "connected" for state in states),
                        "seconds": round(time.monotonic() - started_at, 1),
                        "replaced": _replaced(started),
                    }
                )
                print(f"  handshakes: round {index + 1}/{rounds}: {per_round[-1]}", flush=True)
                await stop_all(bots)
        finally:
            server.stop()
    return {
        "rounds": rounds,
        "bots": count,
        "event_loop": event_loop or "default",
        "connections": sum(r["connections"] for r in per_round),
        "stalled_connections": sum(r["replaced"] for r in per_round),
        "stalled_rounds": sum(1 for r in per_round if r["replaced"]),
        "never_connected_rounds": sum(1 for r in per_round if not r["all_connected"]),
        "per_round": per_round,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.handshakes", description=__doc__)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--event-loop", choices=("uvloop", "asyncio"), default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    result = asyncio.run(run(args.rounds, args.bots, args.event_loop))
    summary = {k: v for k, v in result.items() if k != "per_round"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
