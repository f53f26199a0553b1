"""Accounts and their sign-in sessions."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mosaic.store.db import Database
from mosaic.store.models import AuthSession, User

SESSION_LIFETIME = timedelta(days=14)


class EmailTaken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    email: str
    is_admin: bool


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    csrf_token: str


def token_digest(token: str) -> str:
    """Session tokens are 256-bit random: a fast hash suffices and keeps lookups indexed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _account(user: User) -> Account:
    return Account(id=user.id, name=user.name, email=user.email, is_admin=user.is_admin)


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, email: str, password_hash: str) -> Account:
        """Create an account; the first account of an instance is its admin."""
        async with self._db.session() as session, session.begin():
            count = await session.scalar(select(func.count()).select_from(User))
            user = User(name=name, email=email, password_hash=password_hash, is_admin=count == 0)
            session.add(user)
            try:
                await session.flush()
            except IntegrityError as exc:
                raise EmailTaken(email) from exc
            return _account(user)

    async def credentials(self, email: str) -> tuple[Account, str] | None:
        async with self._db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
            return (_account(user), user.password_hash) if user else None

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with self._db.session() as session, session.begin():
            user = await session.get(User, user_id)
            if user is not None:
                user.password_hash = password_hash

    async def get(self, user_id: int) -> Account | None:
        async with self._db.session() as session:
            user = await session.get(User, user_id)
            return _account(user) if user else None

    async def start_session(self, user_id: int, now: datetime | None = None) -> tuple[str, str]:
        """A new session for a user: returns (cookie token, CSRF token). Only the token's digest
        is stored, so a copy of the database signs nobody in."""
        now = now or datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        async with self._db.session() as session, session.begin():
            session.add(
                AuthSession(
                    token_hash=token_digest(token),
                    csrf_token=csrf,
                    user_id=user_id,
                    created_at=now,
                    expires_at=now + SESSION_LIFETIME,
                )
            )
        return token, csrf

    async def session_user(self, token: str, now: datetime | None = None) -> SignedIn | None:
        now = now or datetime.now(UTC)
        async with self._db.session() as session:
            row = await session.execute(
                select(User, AuthSession.csrf_token, AuthSession.expires_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.token_hash == token_digest(token))
            )
            found = row.first()
        if found is None:
            return None
        user, csrf, expires_at = found
        if _aware(expires_at) <= now:
            return None
        return SignedIn(account=_account(user), csrf_token=csrf)

    async def end_session(self, token: str) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                delete(AuthSession).where(AuthSession.token_hash == token_digest(token))
            )

    async def purge_expired_sessions(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
            return result.rowcount or 0


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
