"""A participant of one breakout room tries to reach another room (a real server, real aiortc
peers): by asking to view someone there, by a private message, by moving itself, by running
the rooms. Each attempt gains nothing and changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from mosaic.client import SignalingError, join
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import Account
from tests.helpers.server import MosaicServer

LOOPBACK = ["127.0.0.1"]


async def test_a_participant_cannot_see_hear_or_write_into_another_room(
    server: MosaicServer, host: Account
) -> None:
    created = await host.create_meeting(waiting_room=False, participants_may_chat=True)
    url = created["join_url"]
    teacher = await join(url, name="Teacher", cookies=host.cookies, local_addresses=LOOPBACK)
    ann = await join(url, name="Ann", decode=False, local_addresses=LOOPBACK)
    eve = await join(url, name="Eve", decode=False, local_addresses=LOOPBACK)
    async with teacher, ann, eve:
        await ann.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(160, 90, fps=10))
        # Together in main, Eve receives Ann: the test would see a leak.
        await eve.wait_until(lambda: eve.media.slot_of(ann.id or "", "microphone") is not None, 15)
        await teacher.create_breakouts(["Red", "Blue"])
        await teacher.assign({ann.id or "": "b1", eve.id or "": "b2"})
        await teacher.open_breakouts(allow_return=False)
        await eve.wait_until(lambda: eve.room == "b2")
        # Eve names Ann in her view, as a crafted client would.
        await eve.view([{"participant": ann.id, "source": "camera", "width": 640, "height": 360}])
        await eve.wait_until(lambda: not any(eve.media.slots.values()), 10)
        await asyncio.sleep(1.0)  # what was in flight when the slots emptied
        before = {mid: tally.octets for mid, tally in eve.media.received.items()}
        await asyncio.sleep(1.5)
        after = {mid: tally.octets for mid, tally in eve.media.received.items()}
        assert after == before, "media of another room reached Eve"
        refusals = [
            ("chat", {"text": "psst", "to": ann.id}, "forbidden"),
            ("breakouts.move", {"room_id": "b1"}, "forbidden"),
            ("breakouts.move", {"room_id": None}, "forbidden"),
            ("breakouts.assign", {"assignments": {eve.id: "b1"}}, "forbidden"),
            ("breakouts.close", {}, "forbidden"),
            ("breakouts.broadcast", {"text": "everyone, come to Blue"}, "forbidden"),
            ("breakouts.cohost", {"participant": eve.id, "room_id": "b2"}, "forbidden"),
        ]
        for kind, fields, code in refusals:
            with pytest.raises(SignalingError) as refused:
                await eve.request(kind, **fields)
            assert refused.value.code == code, kind
        await eve.request("chat", text="hello Blue")
        await asyncio.sleep(0.3)
        assert [e for e in ann.signaling.events if e["type"] == "chat"] == []
        assert eve.room == "b2" and teacher.breakouts["assignments"][eve.id] == "b2"
