"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

from mosaic.client import Participant
from mosaic.client.e2ee import (
    link_fragment,
)


def keyed_link(meeting: dict[str, object], secret: bytes) -> str:
    """The invite link with the meeting's secret in its fragment, as the host's client makes it."""
    url = str(meeting["join_url"])
    return url + ("&" if "#" in url else "#") + link_fragment(secret)


async def keyed_alike(*people: Participant) -> None:
    """Wait until everyone holds the same current epoch and secret."""

    def alike() -> bool:
        currents = [p.e2ee.current() if p.e2ee else None for p in people]
        return currents[0] is not None and all(c == currents[0] for c in currents)

    await people[0].wait_until(alike, timeout=15)
