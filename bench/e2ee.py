"""What end-to-end encryption costs the server: the same meeting of bots, plain and encrypted.

The SFU forwards encrypted frames exactly as plain ones (it reads only the clear prefix and
the RTP header: docs/e2ee.md), so the cost per forwarded packet should not move; the frames
grow by 26 bytes (tag and trailer), which the packet counts and sizes show. Plain and
encrypted alternate from one size to the next, each on a fresh server, as in `bench.forwarding`.
"""

from __future__ import annotations

from typing import Any

from bench import forwarding
from bench.environment import Environment
from bench.plan import Plan
from bench.stats import ratio, rounded

VARIANTS = ("mosaic", "mosaic-e2ee")


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    for index, count in enumerate(plan.e2ee_sizes):
        order = VARIANTS if index % 2 == 0 else tuple(reversed(VARIANTS))
        for name in order:
            print(f"  e2ee: {name}, {count} publishers ...", flush=True)
            result = await forwarding.measure(name, count, plan, env)
            runs.append(result)
            print(
                f"    {result['packets_per_s']:.0f} packets/s, {result['us_per_packet']} us/packet,"
                f" all receiving: {result['all_receiving']}",
                flush=True,
            )
    return {"runs": runs, "comparison": compare(runs)}


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Encrypted/plain ratios per meeting size."""
    rows = []
    for count in sorted({r["publishers"] for r in runs}):
        by_variant = {r["server"]: r for r in runs if r["publishers"] == count}
        plain, encrypted = by_variant.get("mosaic"), by_variant.get("mosaic-e2ee")
        if plain is None or encrypted is None:
            continue
        rows.append(
            {
                "publishers": count,
                "us_per_packet_ratio": rounded(
                    ratio(encrypted["us_per_packet"], plain["us_per_packet"]), 2
                ),
                "packets_per_s_ratio": rounded(
                    ratio(encrypted["packets_per_s"], plain["packets_per_s"]), 2
                ),
                "all_receiving": plain["all_receiving"] and encrypted["all_receiving"],
            }
        )
    return rows


def lines(section: dict[str, Any]) -> list[str]:
    """The section of the printed table."""
    found = ["End-to-end encryption, server cost (encrypted / plain, same bots):"]
    for row in section["comparison"]:
        found.append(
            f"  {row['publishers']} publishers: us/packet x{row['us_per_packet_ratio']},"
            f" packets/s x{row['packets_per_s_ratio']}, all receiving: {row['all_receiving']}"
        )
    return found
