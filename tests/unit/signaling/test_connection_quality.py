"""What the signaling side does with the media plane's view of each connection: the data
saver's cap on a viewer's own budget (validated), and each participant's connection quality and
uplink trouble in the state everyone is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from mosaic.signaling.protocol import ErrorCode, ProtocolError
from tests.helpers.signaling import staged_room


@pytest.mark.parametrize("max_kbps", [0, 63, 20001, -1, "300", 1.5])
async def test_a_data_saver_cap_out_of_range_is_refused(tmp_path: Path, max_kbps: object) -> None:
    async with staged_room(tmp_path) as stage:
        stage.host()
        guest = await stage.guest("Guest")
        with pytest.raises(ProtocolError) as error:
            await stage.send(guest, "view", videos=[], max_kbps=max_kbps)
        assert error.value.code is ErrorCode.BAD_REQUEST


@pytest.mark.parametrize("max_kbps", [64, 300, 20000, None])
async def test_a_data_saver_cap_in_range_is_taken(tmp_path: Path, max_kbps: int | None) -> None:
    async with staged_room(tmp_path) as stage:
        stage.host()
        guest = await stage.guest("Guest")
        assert await stage.send(guest, "view", videos=[], max_kbps=max_kbps) == {}


async def test_everyone_sees_a_participant_s_quality_and_uplink_trouble(tmp_path: Path) -> None:
    async with staged_room(tmp_path) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        await stage.settle()
        for member in (host, guest):
            stage.inbox(member).frames.clear()
        stage.room.condition_changed(guest.id, "poor", True)
        await stage.settle()
        for member in (host, guest):  # the guest too: "your connection is unstable"
            [roster] = stage.inbox(member).of("roster")
            [entry] = roster["updated"]
            assert (entry["id"], entry["quality"], entry["uplink_unstable"]) == (
                guest.id,
                "poor",
                True,
            )
        # Someone already gone: nothing to tell.
        stage.room.condition_changed("p000000000000", "poor", True)
