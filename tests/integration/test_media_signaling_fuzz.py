"""Every ICE candidate and session description a browser might send, and many it would not,
through the real signaling handler of a real server: each is answered (accepted, or refused
with a typed error that is not ``internal``), the sender's session keeps working, and media
between the others keeps flowing; nothing reaches the server's log as a crash.

The candidate lines are built from what Chromium and Firefox trickle (captured lines in
tests/integration/test_browser_candidates.py: mDNS names, TCP with ``tcptype``, IPv6, the
RTCP component, ``generation``/``ufrag``/``network-id``/``network-cost``, end-of-candidates
as ``null``, ``""`` or ``a=end-of-candidates``) recombined and mutated; the descriptions are
the captured browser offers and answer (tests/unit/media/fixtures) with lines dropped,
doubled, cut short, or replaced by attributes of a browser version not seen yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.client import Participant, SignalingError, join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import signup
from tests.helpers.participants import LOOPBACK, frames_from
from tests.helpers.server import MosaicServer

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "media" / "fixtures"
OFFERS = [
    "chromium-publish-offer.sdp",
    "chromium-156-simulcast-offer.sdp",
    "firefox-140-publish-offer.sdp",
    "firefox-128-simulcast-offer.sdp",
    "chromium-156-datachannel-offer.sdp",
]
ANSWER = "chromium-156-subscribe-answer.sdp"
# What a refusal may say: anything typed but a crash.
CRASH = "internal"

text_token = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12
)
addresses = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(
        [
            "127.0.0.1", "10.77.0.1", "fd00:77::1", "::1", "fe80::1%eth0", "0.0.0.0", "::",
            "d9dd0661-6cb4-4231-b899-4b1f133444d4.local", "host.example.org", "256.1.1.1",
            "1.2.3", "[::1]", "",
        ]
    ),
    text_token,
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-5, max_value=2**33).map(str),
    st.sampled_from(["9", "0", "65535", "65536", "4294967296", "1e3", "0x10", "-1"]),
    text_token,
)
extensions = st.lists(
    st.tuples(
        st.sampled_from(
            ["raddr", "rport", "tcptype", "generation", "ufrag", "network-id", "network-cost"]
        )
        | text_token,
        st.one_of(addresses, numbers, st.sampled_from(["active", "passive", "so", "VXKg"])),
    ),
    max_size=4,
)


@st.composite
def candidates(draw: st.DrawFn) -> str | None:
    """A candidate line as a browser trickles it, recombined, maybe mutated."""
    fields = [
        draw(st.sampled_from(["0", "1021296131", "2", "abc+/", ""]) | text_token),
        draw(st.sampled_from(["1", "2", "0", "256"]) | numbers),
        draw(st.sampled_from(["udp", "UDP", "tcp", "TCP", "sctp"]) | text_token),
        draw(numbers),
        draw(addresses),
        draw(numbers),
        draw(st.sampled_from(["typ", "type", ""])),
        draw(st.sampled_from(["host", "srflx", "prflx", "relay", "turn"]) | text_token),
    ]
    for name, value in draw(extensions):
        fields += [name, value]
    line = draw(st.sampled_from(["candidate:", "a=candidate:", "", "candidate: "])) + " ".join(
        fields
    )
    mutation = draw(st.sampled_from(["none", "none", "cut", "end", "spaces"]))
    if mutation == "cut":
        line = line[: draw(st.integers(min_value=0, max_value=len(line)))]
    elif mutation == "end":
        return draw(st.sampled_from([None, "", "a=end-of-candidates", "candidate:", " "]))
    elif mutation == "spaces":
        line = line.replace(" ", draw(st.sampled_from(["  ", "\t", " \r\n "])))
    return line


UNSEEN_LINES = [
    "a=extmap:15 urn:ietf:params:rtp-hdrext:a-future-extension",
    "a=extmap:300 urn:ietf:params:rtp-hdrext:sdes:mid",
    "a=extmap:0/sendonly urn:ietf:params:rtp-hdrext:ssrc-audio-level",
    "a=rtcp-fb:* ccfb",
    "a=fmtp:96 x-google-future=1;;;=",
    "a=fmtp:abc apt=",
    "a=rtpmap:35 AV1/90000",
    "a=rtpmap:96",
    "a=rid:q send pt=999;max-width=abc",
    "a=simulcast:send ~h;;m",
    "a=ssrc-group:FID 1",
    "a=ssrc:notanumber cname:x",
    "a=setup:holdconn",
    "a=fingerprint:sha-512 00",
    "a=fingerprint:",
    "a=ice-options:trickle renomination",
    "a=ice-ufrag:",
    "a=ice-pwd:short",
    "a=end-of-candidates",
    "a=candidate:0 1 UDP 2122187007 d9dd0661-6cb4-4231-b899-4b1f133444d4.local 47990 typ host",
    "a=candidate:2 1 TCP 2105458943 10.77.0.1 9 typ host tcptype active",
    "a=candidate:1 1 UDP 2122252543 fd00:77::1 46858 typ host",
    "a=candidate:0 1 UDP",
    "a=msid:- {abc}",
    "a=mid:",
    "a=mid:0",
    "a=group:BUNDLE 0 1 2 3 4 5",
    "a=max-message-size:1073741823",
    "a=sctp-port:0",
    "m=video 0 UDP/TLS/RTP/SAVPF 96",
    "m=audio 9 RTP/AVP 0",
    "m=text 9 UDP/TLS/RTP/SAVPF 98",
    "c=IN IP6 ::1",
    "b=AS:-1",
    "b=TIAS:99999999999999999999",
    "x=unknown line",
    "a=",
    "=",
]


@st.composite
def descriptions(draw: st.DrawFn, names: list[str]) -> str:
    """A captured browser description with a few of its lines changed."""
    lines = (FIXTURES / draw(st.sampled_from(names))).read_text().splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        index = draw(st.integers(min_value=0, max_value=len(lines)))
        action = draw(st.sampled_from(["drop", "double", "insert", "replace", "cut"]))
        if action == "insert" or not lines:
            lines.insert(index, draw(st.sampled_from(UNSEEN_LINES) | text_token))
            continue
        index = min(index, len(lines) - 1)
        if action == "drop":
            del lines[index]
        elif action == "double":
            lines.insert(index, lines[index])
        elif action == "replace":
            name = lines[index].split(":", 1)[0]
            lines[index] = f"{name}:{draw(text_token)}"
        else:
            lines[index] = lines[index][: draw(st.integers(0, len(lines[index])))]
    ending = draw(st.sampled_from(["\r\n", "\n"]))
    return ending.join(lines) + ending


@dataclass
class Meeting:
    loop: asyncio.AbstractEventLoop
    server: MosaicServer
    join_url: str
    ann: Participant  # publishes video, never fuzzed
    bob: Participant  # receives Ann's video, and trickles the fuzzed candidates
    mallory: Participant  # sends the fuzzed descriptions
    log_start: int

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def meeting(server: MosaicServer) -> Iterator[Meeting]:
    loop = asyncio.new_event_loop()

    async def setup() -> Meeting:
        account = await signup(server.url)
        created = await account.create_meeting(waiting_room=False)
        url = created["join_url"]
        ann = await join(url, name="Ann", cookies=account.cookies, local_addresses=LOOPBACK)
        bob = await join(url, name="Bob", local_addresses=LOOPBACK)
        mallory = await join(url, name="Mallory", local_addresses=LOOPBACK)
        await account.client.aclose()
        await ann.publish(video=PatternVideoTrack(320, 180, fps=15))
        await bob.publish(audio=ToneAudioTrack())  # so that Bob has both connections
        await frames_from(bob, ann)
        return Meeting(loop, server, url, ann, bob, mallory, len(server.log))

    state = loop.run_until_complete(setup())
    yield state

    async def teardown() -> None:
        for participant in (state.ann, state.bob, state.mallory):
            await participant.leave()

    loop.run_until_complete(teardown())
    loop.close()


# Below the session's request rate (30 a second): a refusal for pace would hide the answer.
PACE_S = 0.04


async def _answered(participant: Participant, kind: str, **fields: Any) -> None:
    """The request is answered: accepted, or refused with a typed error other than a crash."""
    await asyncio.sleep(PACE_S)
    try:
        await asyncio.wait_for(participant.request(kind, **fields), 10)
    except SignalingError as refused:
        assert refused.code != CRASH, (refused, fields)


async def _still_answers(participant: Participant) -> None:
    await asyncio.sleep(PACE_S)
    assert (await asyncio.wait_for(participant.request("ping"), 5))["pong"] > 0


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    batch=st.lists(candidates(), min_size=1, max_size=6),
    pc=st.sampled_from(["publish", "subscribe"]),
    mid=st.sampled_from(["0", "1", None, "", "zzz"]),
)
def test_every_candidate_is_answered_and_the_session_goes_on(
    meeting: Meeting, batch: list[str | None], pc: str, mid: str | None
) -> None:
    async def send() -> None:
        for candidate in batch:
            await _answered(meeting.bob, "ice", pc=pc, candidate=candidate, mid=mid)
        await _still_answers(meeting.bob)

    meeting.run(send())


@FUZZ
@given(sdp=descriptions(OFFERS), camera_mid=st.sampled_from(["1", "0", "2", "x"]))
def test_every_publish_offer_is_answered_and_the_session_goes_on(
    meeting: Meeting, sdp: str, camera_mid: str
) -> None:
    sources = {"0": "microphone", camera_mid: "camera"}
    meeting.run(_answered(meeting.mallory, "publish", sdp=sdp, sources=sources))
    meeting.run(_still_answers(meeting.mallory))


@settings(FUZZ, max_examples=20)
@given(sdp=descriptions([ANSWER]))
def test_every_subscribe_answer_is_answered_and_the_session_goes_on(
    meeting: Meeting, sdp: str
) -> None:
    meeting.run(_answered(meeting.mallory, "answer", sdp=sdp))
    meeting.run(_still_answers(meeting.mallory))


def test_after_the_fuzzing_media_still_flows_and_nothing_crashed(meeting: Meeting) -> None:
    """Runs last in this module: Bob still decodes Ann's video; no request failed inside the
    server (the log line of an unexpected exception in a handler)."""
    assert meeting.run(frames_from(meeting.bob, meeting.ann)) == 320
    log = meeting.server.log[meeting.log_start :]
    assert "request failed" not in log
    assert "Traceback" not in log
