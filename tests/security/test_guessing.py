"""War-dialers and passcode guessers: the same answer after the same work, and back-off."""

from __future__ import annotations

import statistics
import time

import pytest

from mosaic.client import SignalingClient, SignalingError
from mosaic.domain.ids import new_meeting_id
from mosaic.domain.meeting import Visitor
from mosaic.signaling.door import Door, join_throttles
from mosaic.signaling.protocol import ErrorCode, Join, ProtocolError
from tests.helpers.api import signup
from tests.helpers.server import MosaicServer


def ws(server: MosaicServer) -> str:
    return server.url.replace("http://", "ws://") + "/ws"


async def attempt(server: MosaicServer, meeting: str, passcode: str) -> tuple[str, float]:
    client = SignalingClient(ws(server))
    await client.connect()
    started = time.perf_counter()
    try:
        await client.request("join", meeting=meeting, name="Dialer", passcode=passcode)
        code = "joined"
    except SignalingError as error:
        code = error.code
    elapsed = time.perf_counter() - started
    await client.close()
    return code, elapsed


async def test_war_dialing_from_one_address_is_throttled_to_a_crawl(make_server) -> None:
    server = make_server()  # the real defaults
    codes = [(await attempt(server, new_meeting_id(), "123456"))[0] for _ in range(12)]
    assert codes[:5] == ["unauthorized"] * 5  # a few honest mistakes are free
    assert codes[5:].count("rate_limited") >= 6  # then every attempt must wait, longer and longer
    client = SignalingClient(ws(server))
    await client.connect()
    with pytest.raises(SignalingError) as refused:
        await client.request("join", meeting=new_meeting_id(), name="Dialer")
    assert refused.value.code == "rate_limited"
    await client.close()


async def test_wrong_passcode_and_unknown_meeting_take_the_same_time(server: MosaicServer) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting()
    wrong, unknown = [], []
    for _ in range(12):
        code, elapsed = await attempt(server, meeting["id"], "not-the-code")
        assert code == "unauthorized"
        wrong.append(elapsed)
        code, elapsed = await attempt(server, new_meeting_id(), "not-the-code")
        assert code == "unauthorized"
        unknown.append(elapsed)
    ratio = statistics.median(unknown) / statistics.median(wrong)
    # Without the decoy hash an unknown meeting answers in a fraction of the time.
    assert 0.6 < ratio < 1.6, (statistics.median(unknown), statistics.median(wrong))


async def test_guessing_one_meetings_passcode_from_many_addresses_slows_its_door(
    tmp_path,
) -> None:
    from mosaic.domain.settings import InstancePolicy, MeetingSettings
    from mosaic.security.hashing import hash_secret
    from mosaic.signaling.room import RoomServices
    from mosaic.signaling.rooms import Rooms
    from mosaic.store.audit import Audit
    from mosaic.store.db import Database
    from mosaic.store.meetings import Meetings
    from mosaic.store.users import Users

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    await db.migrate()
    meetings = Meetings(db)
    owner = await Users(db).create("Owner", "owner@example.org", await hash_secret("x" * 12))
    record = await meetings.create(
        new_meeting_id(), owner.id, "Target", await hash_secret("rightcode"), MeetingSettings()
    )
    per_address, per_meeting = join_throttles(per_minute=120)
    rooms = Rooms(RoomServices(Audit(db), InstancePolicy()))
    door = Door(meetings, rooms, per_address, per_meeting)
    results = []
    for i in range(70):  # a botnet: every guess from another address
        request = Join(id=i, type="join", meeting=record.id, name="Bot", passcode=f"guess{i}")
        try:
            await door.open(request, Visitor(), address=f"198.51.100.{i}")
        except ProtocolError as error:
            results.append(error.code)
    assert results[:50] == [ErrorCode.UNAUTHORIZED] * 50
    assert ErrorCode.RATE_LIMITED in results[50:]
    await db.close()


async def test_sign_in_guessing_is_throttled(make_server) -> None:
    import httpx

    server = make_server()
    account = await signup(server.url)
    async with httpx.AsyncClient(base_url=server.url) as client:
        statuses = [
            (
                await client.post(
                    "/api/auth/login", json={"email": account.email, "password": f"guess {i}"}
                )
            ).status_code
            for i in range(10)
        ]
        assert statuses[:5] == [401] * 5
        assert 429 in statuses[5:]
        blocked = await client.post(
            "/api/auth/login", json={"email": account.email, "password": account.password}
        )
        assert blocked.status_code == 429  # even the right password waits out the back-off
        assert int(blocked.headers["retry-after"]) >= 1
