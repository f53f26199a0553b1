"""Random and malformed frames thrown at /ws while two participants talk: the server, the room
and both participants must not notice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mosaic.client import Participant, join
from mosaic.signaling.protocol import MESSAGE_TYPES
from tests.helpers.api import signup
from tests.helpers.server import MosaicServer

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["id", "type", "text", "to", "name", "meeting", "passcode", "sdp", "participant",
     "participants", "all", "source", "on", "videos", "settings", "locked", "raised", "emoji"]
) | st.text(max_size=12)  # fmt: skip
typed_frames = st.builds(
    lambda kind, fields, request_id: json.dumps({"id": request_id, "type": kind, **fields}),
    st.sampled_from(sorted(MESSAGE_TYPES - {"leave"})),
    st.dictionaries(field_names.filter(lambda n: n not in ("id", "type")), json_values, max_size=4),
    st.integers(min_value=-5, max_value=2**40),
)
frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    typed_frames,
    st.binary(max_size=100),
)


@dataclass
class Meeting:
    loop: asyncio.AbstractEventLoop
    join_url: str
    host: Participant
    guest: Participant
    attacker: Participant | None = None

    def run(self, coroutine):  # type: ignore[no-untyped-def]
        return self.loop.run_until_complete(coroutine)


@pytest.fixture(scope="module")
def meeting(server: MosaicServer) -> Iterator[Meeting]:
    loop = asyncio.new_event_loop()

    async def setup() -> Meeting:
        account = await signup(server.url)
        created = await account.create_meeting(waiting_room=False)
        host = await join(created["join_url"], name="Host", cookies=account.cookies)
        guest = await join(created["join_url"], name="Guest")
        await host.wait_until(lambda: guest.id in host.participants)
        await account.client.aclose()
        return Meeting(loop, created["join_url"], host, guest)

    state = loop.run_until_complete(setup())
    yield state

    async def teardown() -> None:
        for participant in (state.host, state.guest, state.attacker):
            if participant is not None:
                await participant.leave()

    loop.run_until_complete(teardown())
    loop.close()


async def _attacker(meeting: Meeting) -> Participant:
    if meeting.attacker is None or meeting.attacker.signaling.closed.is_set():
        meeting.attacker = await join(meeting.join_url, name="Mallory")
    return meeting.attacker


async def _throw(meeting: Meeting, batch: list[str | bytes]) -> None:
    attacker = await _attacker(meeting)
    for frame in batch:
        if attacker.signaling.closed.is_set():
            attacker = await _attacker(meeting)
        await attacker.signaling.send_text(frame)
    # Everyone else is unaffected: still connected, answered, and in the roster.
    for participant in (meeting.host, meeting.guest):
        assert not participant.signaling.closed.is_set()
        assert (await asyncio.wait_for(participant.request("ping"), 5))["pong"] > 0
    assert {meeting.host.id, meeting.guest.id} <= set(meeting.host.participants)
    assert {meeting.host.id, meeting.guest.id} <= set(meeting.guest.participants)
    assert meeting.host.role == "host"
    assert meeting.guest.participants[meeting.host.id]["role"] == "host"


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_random_frames_never_disturb_the_room_or_other_participants(
    meeting: Meeting, batch: list[str | bytes]
) -> None:
    meeting.run(_throw(meeting, batch))


def test_the_attacker_itself_gets_typed_errors(meeting: Meeting) -> None:
    async def probe() -> None:
        attacker = await join(meeting.join_url, name="Fresh Mallory")
        before = len(attacker.signaling.events)
        await attacker.signaling.send_text('{"id": 1, "type": "remove", "participant": "x"}')
        error = await attacker.signaling.wait_for("error", since=before)
        assert error["code"] == "bad_request"
        await attacker.signaling.send_text(
            json.dumps({"id": 2, "type": "remove", "participant": meeting.host.id})
        )
        error = await attacker.signaling.wait_for("error", lambda e: e["id"] == 2, since=before)
        assert error["code"] == "forbidden"
        assert meeting.host.id in meeting.guest.participants
        await attacker.leave()

    meeting.run(probe())
