"""When a client gives a media connection up and asks for a new one.

A connection that fails (ICE or DTLS), or is still not connected some seconds after it was
negotiated (seen under load: ICE done, the DTLS handshake never finishing), will not mend
itself: the server cannot restart ICE in place, so the client starts the connection afresh
on both sides. The wait doubles with each replacement in a row, so a network that lets
nothing through is not hammered. The web client (web/js/media.js) follows the same rules.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCPeerConnection

CONNECT_TIMEOUT_S = 10.0
MAX_CONNECT_TIMEOUT_S = 60.0


class Watchdog:
    """Watches one kind of connection (publish or subscribe), one connection after another."""

    def __init__(self, first_wait_s: float = CONNECT_TIMEOUT_S) -> None:
        self.first_wait_s = first_wait_s
        self.replaced = 0  # connections given up, in all
        self._in_a_row = 0

    def watch(
        self, pc: RTCPeerConnection, give_up: Callable[[RTCPeerConnection, str], None]
    ) -> None:
        """Call ``give_up(pc, why)`` if ``pc`` fails, or is not connected in time."""

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "failed":
                give_up(pc, "failed")
            elif pc.connectionState == "connected":
                self._in_a_row = 0

        def overdue() -> None:
            if pc.connectionState not in ("connected", "closed"):
                give_up(pc, f"still {pc.connectionState}")

        asyncio.get_running_loop().call_later(self.wait_s, overdue)

    @property
    def wait_s(self) -> float:
        """How long the next connection has to come up."""
        return min(self.first_wait_s * 2**self._in_a_row, MAX_CONNECT_TIMEOUT_S)

    def gave_up(self) -> None:
        self.replaced += 1
        self._in_a_row += 1
