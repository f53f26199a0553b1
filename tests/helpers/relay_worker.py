"""The receiving worker of a relay, as a process of its own:
`python -m tests.helpers.relay_worker`.

It runs router B (the in-memory subscriber transports of tests/helpers/sfu.py) and its end of
a `RelayLink`, and talks to the test over stdin/stdout, one JSON object a line:

- it says ``{"address": [host, port]}`` (its relay socket) first;
- ``{"peer": [host, port], "track": {...}}``: connect to the sending worker, receive the
  relayed track (`RelayedTrack.to_json`), and once its first keyframe came, subscribe Sam and
  say ``{"ready": true}``;
- ``{"pli": true}``: Sam lost its picture (a PLI on Sam's slot);
- ``{"stats": true}``: say how many packets Sam got (and distinct numbers) and the link's
  counters.

Its clock moves with real time (a `FakeClock` advanced on its own 20 ms beat, on which the
link's NACK and keyframe retries run too).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from mosaic.media.sfu.relay import RelayedTrack, RelayLink
from tests.helpers.sfu import FakeTransport, Meeting, pli


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def _beat(b: Meeting, link: RelayLink) -> None:
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.02)
        now = time.monotonic()
        b.clock.advance(now - last)
        last = now
        link.tick(b.clock())


async def main() -> None:
    b = Meeting()
    link = RelayLink(b.clock)
    address = await link.open(ticking=False)
    beat = asyncio.create_task(_beat(b, link))
    _say({"address": list(address)})
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    sam: FakeTransport | None = None
    while line := await reader.readline():
        command = json.loads(line)
        if "peer" in command:
            link.connect((command["peer"][0], int(command["peer"][1])))
            track = link.receive(RelayedTrack.from_json(command["track"]))
            b.router.add_track(track)
            while track.streams[0].keyframe_seq < 0:
                await asyncio.sleep(0.005)
            sam = await b.subscribe("sam")
            _say({"ready": True})
        elif "pli" in command:
            assert sam is not None
            [slot] = b.router.subscribers["sam"].peer.slots
            sam.on_rtcp(pli(slot.ssrc))
            _say({"pli": True})
        elif "stats" in command:
            assert sam is not None
            numbers = [header.sequence_number for header in sam.headers()]
            _say(
                {
                    "packets": len(numbers),
                    "distinct": len(set(numbers)),
                    "received": link.received,
                    "nacks_sent": link.nacks_sent,
                    "keyframe_requests_sent": link.keyframe_requests_sent,
                    "strangers": link.strangers,
                }
            )
    beat.cancel()
    link.close()


if __name__ == "__main__":
    asyncio.run(main())
