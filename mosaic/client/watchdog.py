"""When a client gives a media connection up and asks for a new one.

A connection that fails (ICE or DTLS), or is still not connected some seconds after it was
negotiated, will not mend itself (the handshake that never finished under load, ICE done and
DTLS "connecting", was the server's ICE agent taking itself for controlled: fixed in
`mosaic.rtc.aiortc_bridge.MediaTransport`; this stays as the last resort): the server cannot
restart ICE in place, so the client starts the connection afresh on both sides. The wait
doubles with each replacement in a row, so a network that lets nothing through is not
hammered.

A connection can also die while ICE stays up: the server's end stops sending (its DTLS task
ended) yet keeps answering connectivity checks, so the connection still reads "connected" and
the tiles freeze. So a connected connection that should carry packets but received none (no
RTP, no RTCP) for `SILENCE_S` is given up too. A healthy server always sends something while
a track is live: forwarded RTP, and about once a second a sender report per subscribe slot that
has carried media and receiver reports to a publisher. The web client (web/js/media.js)
follows the same rules, but for one: a browser shows no DTLS datagrams, so only this client
gives a handshake that is still hearing from the peer at the deadline (slow, on an overloaded
machine, not stuck) `EXTENSION_S` more before replacing it; and only this client prints the
handshake's datagrams (`mosaic.rtc.handshake_log`) when it gives up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiortc import RTCPeerConnection

from mosaic.rtc.aiortc_bridge import handshake_log
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
MAX_CONNECT_TIMEOUT_S = 60.0
SILENCE_S = 5.0
MAX_SILENCE_S = 60.0
POLL_S = 1.0
# A connection whose DTLS handshake heard from the peer within the last EXTENSION_S is given
# EXTENSION_S more, once, before it is replaced.
EXTENSION_S = 3.0
MAX_EXTENSIONS = 1


class Silence:
    """Whether packets that should arrive have stopped: the rule, without the clock or I/O.

    ``received`` is a running count of packets that arrived on the connection since it
    connected (``baseline`` is the count at that moment). The count must
    move at least once every ``limit_s`` while packets are expected; the wait starts afresh
    whenever they begin to be expected, so a track that has just gone live is given time to
    start. Until anything at all has arrived the wait is twice as long: a publisher whose own
    connection is still coming up (up to `CONNECT_TIMEOUT_S`) has sent nothing to forward yet,
    and replacing our connection would not make it come sooner."""

    def __init__(self, limit_s: float = SILENCE_S, baseline: int = 0) -> None:
        self.limit_s = limit_s
        self.baseline = baseline
        self.moved = False  # packets arrived, as expected, since the check before
        self._received: int | None = None
        self._since: float | None = None  # when packets last arrived, or began to be expected

    def dead(self, now: float, expected: bool, received: int) -> bool:
        self.moved = expected and self._received is not None and received != self._received
        if not expected:
            self._since = None
        elif self._since is None or self.moved:
            self._since = now
        self._received = received
        limit = self.limit_s if received != self.baseline else 2 * self.limit_s
        return self._since is not None and now - self._since >= limit


class Watchdog:
    """Watches one kind of connection (publish or subscribe), one connection after another."""

    def __init__(
        self, first_wait_s: float = CONNECT_TIMEOUT_S, silence_s: float = SILENCE_S
    ) -> None:
        self.first_wait_s = first_wait_s
        self.first_silence_s = silence_s
        self.replaced = 0  # connections given up, in all
        self._in_a_row = 0
        self._silent_in_a_row = 0
        self._tasks = TaskSet()

    def watch(
        self,
        pc: RTCPeerConnection,
        give_up: Callable[[RTCPeerConnection, str], None],
        *,
        expected: Callable[[], bool] | None = None,
        received: Callable[[], int] | None = None,
    ) -> None:
        """Call ``give_up(pc, why)`` if ``pc`` fails, or is not connected in time; and, given
        ``expected`` (should packets arrive now?) and ``received`` (packets arrived so far), if
        it is connected but silent while packets are expected."""

        @pc.on("connectionstatechange")
        def changed() -> None:
            if pc.connectionState == "failed":
                give_up(pc, "failed")
            elif pc.connectionState == "connected":
                self._in_a_row = 0

        extensions = 0

        def overdue() -> None:
            nonlocal extensions
            if pc.connectionState not in ("connected", "closed"):
                handshake = handshake_log(pc)
                if (
                    handshake is not None
                    and extensions < MAX_EXTENSIONS
                    and handshake.heard_within(EXTENSION_S)
                ):
                    # The DTLS handshake is under way, slowly (seen on an overloaded machine:
                    # ICE alone took 7 s): replacing it would start again from nothing.
                    extensions += 1
                    asyncio.get_running_loop().call_later(EXTENSION_S, overdue)
                    return
                if handshake is not None and handshake.entries:
                    # What DTLS sent and heard: the server logs its side when it closes.
                    log.warning("giving up a connection: %s", handshake.dump())
                give_up(pc, f"still {pc.connectionState}")

        asyncio.get_running_loop().call_later(self.wait_s, overdue)
        if expected is not None and received is not None:
            self._tasks.spawn(self._listen(pc, give_up, expected, received))

    async def _listen(
        self,
        pc: RTCPeerConnection,
        give_up: Callable[[RTCPeerConnection, str], None],
        expected: Callable[[], bool],
        received: Callable[[], int],
    ) -> None:
        silence = Silence(self.silence_s)
        while pc.connectionState != "closed":
            await asyncio.sleep(POLL_S)
            if pc.connectionState != "connected":
                silence = Silence(self.silence_s)  # not up: the connect timeout's business
                continue
            if silence.dead(time.monotonic(), expected(), received()):
                self._silent_in_a_row += 1
                give_up(pc, "silent")
                return
            if silence.moved:
                self._silent_in_a_row = 0

    @property
    def wait_s(self) -> float:
        """How long the next connection has to come up."""
        return min(self.first_wait_s * 2**self._in_a_row, MAX_CONNECT_TIMEOUT_S)

    @property
    def silence_s(self) -> float:
        """How long the next connection may stay silent while packets are expected (longer
        after each silent connection in a row: a server that sends nothing is not hammered)."""
        return min(self.first_silence_s * 2**self._silent_in_a_row, MAX_SILENCE_S)

    def gave_up(self) -> None:
        self.replaced += 1
        self._in_a_row += 1

    def stop(self) -> None:
        self._tasks.cancel()
