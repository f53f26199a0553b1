"""Many bots at once: start them (a few at a time), let them run, stop them, sum them up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from mosaic.bots.base import Bot

log = logging.getLogger(__name__)

# Joins in flight at once: each costs a DTLS handshake and an SDP round on both sides; a
# handful at a time keeps a 2-core machine responsive while the swarm gathers.
DEFAULT_CONCURRENCY = 4


async def start_all(bots: Sequence[Bot], concurrency: int = DEFAULT_CONCURRENCY) -> list[Bot]:
    """Start every bot; return those that started (failures are logged and reported)."""
    gate = asyncio.Semaphore(concurrency)

    async def start(bot: Bot) -> bool:
        async with gate:
            try:
                await bot.start()
            except Exception as exc:
                log.warning("bot %s could not join: %s", bot.name, exc)
                bot.error = f"{type(exc).__name__}: {exc}"  # type: ignore[attr-defined]
                return False
            return True

    started = await asyncio.gather(*(start(bot) for bot in bots))
    return [bot for bot, ok in zip(bots, started, strict=True) if ok]


async def wait_for_media(bots: Sequence[Bot], *, minimum: int = 1, timeout: float = 20.0) -> bool:
    """Wait until every bot has received at least ``minimum`` packets (True), or time out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(bot.received() >= minimum for bot in bots):
            return True
        await asyncio.sleep(0.1)
    return False


async def stop_all(bots: Sequence[Bot]) -> None:
    async def stop(bot: Bot) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(bot.stop(), 10)

    await asyncio.gather(*(stop(bot) for bot in bots))


def summary(bots: Sequence[Bot], seconds: float) -> dict[str, Any]:
    """Totals and per-bot figures, JSON-ready."""
    reports = [bot.report() for bot in bots]
    packets = sum(r.packets for r in reports)
    kinds: dict[str, int] = {}
    for report in reports:
        for kind, count in report.kinds.items():
            kinds[kind] = kinds.get(kind, 0) + count
    return {
        "bots": len(reports),
        "joined": sum(r.joined for r in reports),
        "seconds": round(seconds, 3),
        "packets_received": packets,
        "packets_per_second": round(packets / seconds, 1) if seconds > 0 else 0.0,
        "by_kind": kinds,
        "frames_decoded": sum(r.frames_decoded for r in reports),
        "keyframes_requested": sum(r.keyframes_requested for r in reports),
        "per_bot": [r.as_dict() for r in reports],
    }
