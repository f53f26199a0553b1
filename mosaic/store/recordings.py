"""Server recordings of meetings: one row per recording, its files in a directory of its own
under the data directory (``recordings/<id>``), which only this module and the recorder name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from mosaic.store.db import Database
from mosaic.store.models import Recording

RECORDINGS_DIR = "recordings"


@dataclass(frozen=True, slots=True)
class RecordingRecord:
    id: str
    meeting_id: str
    host_user_id: int
    started_at: datetime
    stopped_at: datetime | None
    directory: str  # relative to the data directory
    size_bytes: int
    duration_s: float | None


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record(row: Recording) -> RecordingRecord:
    return RecordingRecord(
        id=row.id,
        meeting_id=row.meeting_id,
        host_user_id=row.host_user_id,
        started_at=_aware(row.started_at),
        stopped_at=_aware(row.stopped_at) if row.stopped_at is not None else None,
        directory=row.directory,
        size_bytes=row.size_bytes,
        duration_s=row.duration_s,
    )


class Recordings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, recording_id: str, meeting_id: str, host_user_id: int, started_at: datetime
    ) -> RecordingRecord:
        row = Recording(
            id=recording_id,
            meeting_id=meeting_id,
            host_user_id=host_user_id,
            started_at=started_at,
            directory=f"{RECORDINGS_DIR}/{recording_id}",
            size_bytes=0,
        )
        async with self._db.session() as session, session.begin():
            session.add(row)
        return _record(row)

    async def finish(
        self, recording_id: str, stopped_at: datetime, size_bytes: int, duration_s: float
    ) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                update(Recording)
                .where(Recording.id == recording_id)
                .values(stopped_at=stopped_at, size_bytes=size_bytes, duration_s=duration_s)
            )

    async def get(self, recording_id: str) -> RecordingRecord | None:
        async with self._db.session() as session:
            row = await session.get(Recording, recording_id)
            return _record(row) if row is not None else None

    async def list_for_meeting(self, meeting_id: str) -> list[RecordingRecord]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(Recording)
                .where(Recording.meeting_id == meeting_id)
                .order_by(Recording.started_at.desc())
            )
            return [_record(row) for row in rows]

    async def delete(self, recording_id: str) -> bool:
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(Recording).where(Recording.id == recording_id))
            return bool(result.rowcount)
