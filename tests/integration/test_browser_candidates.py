"""Every ICE candidate a real browser trickles gets a typed answer, and the session goes on.

The lines below were captured from Firefox ESR 140 and Chromium 156 (``icecandidate`` events,
in a test network namespace with an IPv4 and an IPv6 address): host addresses shown and hidden
behind mDNS names, TCP and RTCP-component candidates, and Firefox's end-of-candidates, an
empty candidate string, which once failed the request with an internal error.
"""

from __future__ import annotations

import pytest

from mosaic.client import SignalingError
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import Account
from tests.helpers.participants import frames_from, meeting_of_two
from tests.helpers.server import MosaicServer

FIREFOX = [
    "candidate:0 1 UDP 2122187007 10.77.0.1 45966 typ host",
    "candidate:1 1 UDP 2122252543 fd00:77::1 46858 typ host",
    "candidate:2 1 TCP 2105458943 10.77.0.1 9 typ host tcptype active",
    "candidate:3 1 TCP 2105524479 fd00:77::1 9 typ host tcptype active",
    "candidate:0 2 UDP 2122187006 10.77.0.1 44477 typ host",
    "candidate:1 2 UDP 2122252542 fd00:77::1 34113 typ host",
    "candidate:0 1 UDP 2122187007 d9dd0661-6cb4-4231-b899-4b1f133444d4.local 47990 typ host",
    "candidate:2 1 TCP 2105458943 d9dd0661-6cb4-4231-b899-4b1f133444d4.local 9 typ host "
    "tcptype active",
    "",  # end-of-candidates, Firefox's way
]
CHROMIUM = [
    "candidate:1021296131 1 udp 2113937151 10.77.0.1 55915 typ host generation 0 ufrag VXKg "
    "network-cost 999",
    "candidate:1043431667 1 udp 2113942271 fd00:77::1 48266 typ host generation 0 ufrag VXKg "
    "network-cost 999",
    "candidate:1038656586 1 udp 2113937151 e58d33d4-cdf5-4dbe-9be6-9e0c119a4ab5.local 56650 typ "
    "host generation 0 ufrag c8Qt network-cost 999",
    None,  # end-of-candidates as the web client sends Chromium's
]
MALFORMED = [
    "candidate:0 1 UDP",
    "candidate:0 1 UDP 2122252543 10.77.0.1 port typ host",
    "candidate:0 1 UDP 2122252543 10.77.0.1 36405 typ host raddr",
    "a=ice-ufrag:abcd",
]


@pytest.mark.parametrize("pc", ["publish", "subscribe"])
async def test_every_browser_candidate_gets_an_answer_and_media_keeps_flowing(
    server: MosaicServer, host: Account, pc: str
) -> None:
    a, b = await meeting_of_two(host)
    async with a, b:
        await a.publish(audio=ToneAudioTrack(), video=PatternVideoTrack())
        await b.publish(audio=ToneAudioTrack())  # so that b has both connections
        log_start = len(server.log)
        for candidate in [*CHROMIUM, *FIREFOX]:
            # Again after end-of-candidates: late ones are ignored, not failed.
            assert await b.request("ice", pc=pc, candidate=candidate, mid="0") == {}
        for candidate in MALFORMED:
            with pytest.raises(SignalingError) as refused:
                await b.request("ice", pc=pc, candidate=candidate, mid="0")
            assert refused.value.code == "bad_request", candidate
        # The session is whole: signaling answers, and media still reaches b.
        assert "pong" in await b.request("ping")
        assert await frames_from(b, a) == 640
        assert "request failed" not in server.log[log_start:]
