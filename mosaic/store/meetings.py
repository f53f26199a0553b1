"""Scheduled meetings: the host, topic, settings and the passcode's hash, and the state that
decides entry (lock, end, bans), which outlives the live room and the process.

This is the one source of truth for who may enter a meeting: the door reads it for every join,
and every change (REST, in the meeting) is written here first-class, growing ``state_version``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mosaic.domain.access import Bans, MeetingAccess
from mosaic.domain.settings import MeetingSettings
from mosaic.store.db import Database
from mosaic.store.models import Meeting, MeetingBan, MeetingDevice

# Addresses change hands (a café, a school, a mobile network): an address ban lasts a day.
ADDRESS_BAN_TTL = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    id: str
    host_user_id: int
    topic: str
    passcode_hash: str | None
    settings: MeetingSettings
    created_at: datetime
    locked: bool = False
    ended: bool = False
    bans: Bans = field(default_factory=Bans)
    version: int = 0

    @property
    def access(self) -> MeetingAccess:
        return MeetingAccess(
            host_user_id=self.host_user_id,
            settings=self.settings,
            locked=self.locked,
            ended=self.ended,
            bans=self.bans,
            version=self.version,
        )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record(row: Meeting, bans: Bans | None = None) -> MeetingRecord:
    return MeetingRecord(
        id=row.id,
        host_user_id=row.host_user_id,
        topic=row.topic,
        passcode_hash=row.passcode_hash,
        settings=MeetingSettings.model_validate(row.settings),
        created_at=_aware(row.created_at),
        locked=bool(row.locked),
        ended=bool(row.ended),
        bans=bans or Bans(),
        version=row.state_version or 0,
    )


async def _bans(session: AsyncSession, meeting_id: str) -> Bans:
    now = datetime.now(UTC)
    rows = await session.scalars(select(MeetingBan).where(MeetingBan.meeting_id == meeting_id))
    accounts: set[int] = set()
    devices: set[str] = set()
    addresses: set[str] = set()
    for ban in rows:
        if ban.expires_at is not None and _aware(ban.expires_at) <= now:
            continue
        if ban.kind == "account":
            accounts.add(int(ban.value))
        elif ban.kind == "device":
            devices.add(ban.value)
        elif ban.kind == "address":
            addresses.add(ban.value)
    return Bans(frozenset(accounts), frozenset(devices), frozenset(addresses))


def _ban_rows(bans: Bans) -> list[tuple[str, str]]:
    return (
        [("account", str(user_id)) for user_id in bans.accounts]
        + [("device", device) for device in bans.devices]
        + [("address", address) for address in bans.addresses]
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
        """The meeting with its entry state, as stored now (bans included)."""
        async with self._db.session() as session:
            row = await session.get(Meeting, meeting_id)
            if row is None:
                return None
            return _record(row, await _bans(session, meeting_id))

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
        locked: bool | None = None,
        ended: bool | None = None,
        bans: Bans | None = None,
    ) -> MeetingRecord | None:
        """Change what is given; ``bans`` are added to those stored (a ban is never lifted
        by a write that did not know of it). Every call makes a new ``version``."""
        for attempt in range(3):
            try:
                return await self._update(
                    meeting_id, topic, settings, passcode_hash, clear_passcode, locked, ended, bans
                )
            except IntegrityError:
                # Two removals stored the same ban at once: the other one did; try again.
                if attempt == 2:
                    raise
        return None

    async def _update(
        self,
        meeting_id: str,
        topic: str | None,
        settings: MeetingSettings | None,
        passcode_hash: str | None,
        clear_passcode: bool,
        locked: bool | None,
        ended: bool | None,
        bans: Bans | None,
    ) -> MeetingRecord | None:
        async with self._db.session() as session, session.begin():
            row = await session.get(Meeting, meeting_id, with_for_update=True)
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
            if locked is not None:
                row.locked = locked
            if ended is not None:
                row.ended = ended
            if bans:
                await self._add_bans(session, meeting_id, bans)
            row.state_version = (row.state_version or 0) + 1
            await session.flush()
            return _record(row, await _bans(session, meeting_id))

    @staticmethod
    async def _add_bans(session: AsyncSession, meeting_id: str, bans: Bans) -> None:
        now = datetime.now(UTC)
        stored = {
            (ban.kind, ban.value): ban
            for ban in await session.scalars(
                select(MeetingBan).where(MeetingBan.meeting_id == meeting_id)
            )
        }
        for kind, value in _ban_rows(bans):
            expires = now + ADDRESS_BAN_TTL if kind == "address" else None
            ban = stored.get((kind, value))
            if ban is None:
                session.add(
                    MeetingBan(
                        meeting_id=meeting_id,
                        kind=kind,
                        value=value,
                        created_at=now,
                        expires_at=expires,
                    )
                )
            elif ban.expires_at is not None and expires is not None:
                # Still banned in memory means removed again: the day starts anew.
                ban.expires_at = max(_aware(ban.expires_at), expires)

    async def remember_devices(self, meeting_id: str, devices: Sequence[str]) -> None:
        """Note devices (keyed hashes) the meeting admitted: after a removal they do not
        count as strangers (`MeetingAccess.must_wait`)."""
        if not devices:
            return
        async with self._db.session() as session, session.begin():
            known = set(
                await session.scalars(
                    select(MeetingDevice.device).where(
                        MeetingDevice.meeting_id == meeting_id,
                        MeetingDevice.device.in_(list(devices)),
                    )
                )
            )
            now = datetime.now(UTC)
            for device in set(devices) - known:
                session.add(MeetingDevice(meeting_id=meeting_id, device=device, created_at=now))
        # A duplicate from a concurrent write is harmless, and callers run this in the
        # background: they catch and log.

    async def knows_device(self, meeting_id: str, device: str) -> bool:
        async with self._db.session() as session:
            found = await session.get(MeetingDevice, (meeting_id, device))
            return found is not None

    async def delete(self, meeting_id: str) -> bool:
        async with self._db.session() as session, session.begin():
            row = await session.get(Meeting, meeting_id)
            if row is None:
                return False
            await session.delete(row)
            return True
