"""Scheduled meetings: the host, topic, settings and the passcode's hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from mosaic.domain.settings import MeetingSettings
from mosaic.store.db import Database
from mosaic.store.models import Meeting


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    id: str
    host_user_id: int
    topic: str
    passcode_hash: str | None
    settings: MeetingSettings
    created_at: datetime


def _record(row: Meeting) -> MeetingRecord:
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=UTC)
    return MeetingRecord(
        id=row.id,
        host_user_id=row.host_user_id,
        topic=row.topic,
        passcode_hash=row.passcode_hash,
        settings=MeetingSettings.model_validate(row.settings),
        created_at=created,
    )


class Meetings:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        meeting_id: str,
        host_user_id: int,
        topic: str,
        passcode_hash: str | None,
        settings: MeetingSettings,
    ) -> MeetingRecord:
        async with self._db.session() as session, session.begin():
            row = Meeting(
                id=meeting_id,
                host_user_id=host_user_id,
                topic=topic,
                passcode_hash=passcode_hash,
                settings=settings.model_dump(mode="json"),
                created_at=datetime.now(UTC),
            )
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, meeting_id: str) -> MeetingRecord | None:
        async with self._db.session() as session:
            row = await session.get(Meeting, meeting_id)
            return _record(row) if row else None

    async def list_for_host(self, host_user_id: int) -> list[MeetingRecord]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(Meeting)
                .where(Meeting.host_user_id == host_user_id)
                .order_by(Meeting.created_at.desc())
            )
            return [_record(row) for row in rows]

    async def update(
        self,
        meeting_id: str,
        *,
        topic: str | None = None,
        settings: MeetingSettings | None = None,
        passcode_hash: str | None = None,
        clear_passcode: bool = False,
    ) -> MeetingRecord | None:
        async with self._db.session() as session, session.begin():
            row = await session.get(Meeting, meeting_id)
            if row is None:
                return None
            if topic is not None:
                row.topic = topic
            if settings is not None:
                row.settings = settings.model_dump(mode="json")
            if passcode_hash is not None:
                row.passcode_hash = passcode_hash
            elif clear_passcode:
                row.passcode_hash = None
            await session.flush()
            return _record(row)

    async def delete(self, meeting_id: str) -> bool:
        async with self._db.session() as session, session.begin():
            row = await session.get(Meeting, meeting_id)
            if row is None:
                return False
            await session.delete(row)
            return True
