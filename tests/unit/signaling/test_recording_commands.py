"""`recording.start` on a node that cannot record this meeting: a typed error, and nothing
changes — no flag shown to anyone, no row, no directory (the room's own media plane here is
not an SFU router, as on a server whose media could not be recorded)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mosaic.signaling.protocol import ErrorCode, ProtocolError
from mosaic.signaling.recording import RecordingDesk
from mosaic.store.db import Database
from mosaic.store.recordings import Recordings
from tests.helpers.signaling import MEETING_ID, staged_room


async def test_a_recording_that_cannot_start_is_a_typed_error_and_changes_nothing(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'recordings.db'}")
    await db.migrate()
    try:
        store = Recordings(db)
        async with staged_room(tmp_path, waiting_room=False) as stage:
            room = stage.room
            room._services = replace(room._services, recordings=RecordingDesk(store, tmp_path))
            host = stage.host()
            guest = await stage.guest("Guest")
            await stage.settle()
            with pytest.raises(ProtocolError) as refused:
                await stage.send(host, "recording.start")
            assert refused.value.code is ErrorCode.INTERNAL
            assert refused.value.reason == "recording_unavailable"
            await stage.settle()
            assert not stage.meeting.recording and room.recording_id is None
            told = [frame.get("recording") for frame in stage.inbox(guest).of("meeting")]
            assert True not in told
            assert await store.list_for_meeting(MEETING_ID) == []
            assert not (tmp_path / "recordings").exists()
    finally:
        await db.close()
