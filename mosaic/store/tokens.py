"""Personal API tokens: made (shown once), listed, revoked, and looked up by their digest."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update

from mosaic.domain.scopes import Scope, parse
from mosaic.store.db import Database
from mosaic.store.models import ApiToken, User
from mosaic.store.users import Account, token_digest
from mosaic.store.users import _account as account_of

# The prefix tells a leaked token for what it is (secret scanners match on it).
PREFIX = "mosaic_pat_"
MAX_PER_ACCOUNT = 20
# Writing "last used" on every call would make each read a write; once a minute is enough.
_USE_RESOLUTION = timedelta(minutes=1)


class TooManyTokens(Exception):
    """The account holds `MAX_PER_ACCOUNT` tokens: a leaked session cannot mint without end."""


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    name: str
    scopes: frozenset[Scope]
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenHolder:
    account: Account
    scopes: frozenset[Scope]


def _record(row: ApiToken) -> TokenRecord:
    last = row.last_used_at
    return TokenRecord(
        row.id,
        row.name,
        parse(row.scopes),
        _aware(row.created_at),
        _aware(last) if last is not None else None,
    )


class ApiTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, user_id: int, name: str, scopes: frozenset[Scope], now: datetime | None = None
    ) -> tuple[str, TokenRecord]:
        """A new token: returns it (to show once) and its record; only its digest is kept,
        so a copy of the database calls no API."""
        now = now or datetime.now(UTC)
        token = PREFIX + secrets.token_urlsafe(32)
        async with self._db.session() as session, session.begin():
            count = await session.scalar(
                select(func.count()).select_from(ApiToken).where(ApiToken.user_id == user_id)
            )
            if (count or 0) >= MAX_PER_ACCOUNT:
                raise TooManyTokens
            row = ApiToken(
                token_hash=token_digest(token),
                user_id=user_id,
                name=name,
                scopes=" ".join(sorted(scopes)),
                created_at=now,
            )
            session.add(row)
            await session.flush()
            return token, _record(row)

    async def list_for(self, user_id: int) -> list[TokenRecord]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
            )
            return [_record(row) for row in rows]

    async def revoke(self, user_id: int, token_id: int) -> bool:
        """Delete one of this user's tokens; False if there is none of that id (or another's)."""
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user_id)
            )
            return bool(result.rowcount)

    async def holder(self, token: str, now: datetime | None = None) -> TokenHolder | None:
        """Who a presented token speaks for, and with which scopes; None if unknown or revoked."""
        now = now or datetime.now(UTC)
        async with self._db.session() as session, session.begin():
            found = (
                await session.execute(
                    select(User, ApiToken)
                    .join(ApiToken, ApiToken.user_id == User.id)
                    .where(ApiToken.token_hash == token_digest(token))
                )
            ).first()
            if found is None:
                return None
            user, row = found
            last = row.last_used_at
            if last is None or _aware(last) + _USE_RESOLUTION <= now:
                await session.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
            return TokenHolder(account_of(user), parse(row.scopes))


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
