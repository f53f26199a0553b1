"""The recordings table (migration 0005) on both databases Mosaic runs on: rows made, finished,
listed newest first, deleted, and gone with their meeting."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mosaic.domain.accounts import admin_at_creation
from mosaic.domain.ids import new_meeting_id, new_recording_id
from mosaic.domain.settings import MeetingSettings
from mosaic.store.db import Database
from mosaic.store.meetings import Meetings
from mosaic.store.recordings import Recordings
from mosaic.store.users import Users
from tests.helpers.postgres import Postgres, unavailable


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres | None]:
    if unavailable() is not None:
        yield None
        return
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: Postgres | None
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        if postgres is None:
            pytest.skip(f"LOUD SKIP: {unavailable()}")
        url = postgres.url
    else:
        url = f"sqlite:///{tmp_path / 'mosaic.db'}"
    database = Database(url)
    await database.migrate()
    await database.migrate()  # idempotent
    yield database
    await database.close()


async def test_recordings_are_stored_listed_and_deleted(db: Database) -> None:
    account = await Users(db).create(
        "Ann", f"ann-{new_recording_id()}@example.org", "hash", admin_if=admin_at_creation
    )
    meetings = Meetings(db)
    meeting_id = new_meeting_id()
    await meetings.create(meeting_id, account.id, "Topic", None, MeetingSettings())
    store = Recordings(db)
    started = datetime.now(UTC).replace(microsecond=0)
    first = await store.create(new_recording_id(), meeting_id, account.id, started)
    second = await store.create(
        new_recording_id(), meeting_id, account.id, started + timedelta(minutes=5)
    )
    assert first.directory == f"recordings/{first.id}" and first.stopped_at is None
    big = 5 * 2**32  # larger than a 32-bit integer: a long meeting's files
    await store.finish(first.id, started + timedelta(seconds=90), big, 90.0)
    listed = await store.list_for_meeting(meeting_id)
    assert [r.id for r in listed] == [second.id, first.id]
    done = await store.get(first.id)
    assert done is not None and (done.size_bytes, done.duration_s) == (big, 90.0)
    assert done.stopped_at == started + timedelta(seconds=90)
    assert await store.delete(first.id) and not await store.delete(first.id)
    assert await meetings.delete(meeting_id)
    assert await store.get(second.id) is None  # gone with its meeting
