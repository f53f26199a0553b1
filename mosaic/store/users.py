"""Accounts, their sign-in sessions, and the single-use links mailed to their addresses."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from mosaic.store.db import Database
from mosaic.store.models import AuthSession, EmailToken, User

SESSION_LIFETIME = timedelta(days=14)
# Long enough for a mail that waits in a queue over a night; short enough that an old mailbox
# backup holds no live link.
EMAIL_TOKEN_LIFETIME = timedelta(hours=24)


class EmailTaken(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    email: str
    is_admin: bool
    email_verified: bool = False


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    csrf_hash: str

    def csrf_matches(self, sent: str) -> bool:
        """Whether a request's X-CSRF-Token is this session's (compared digest to digest, in
        constant time)."""
        return secrets.compare_digest(token_digest(sent).encode(), self.csrf_hash.encode())


def token_digest(token: str) -> str:
    """Session, CSRF and e-mail tokens are 192 to 256-bit random: a fast hash suffices and keeps
    lookups indexed."""
    return hashlib.sha256(token.encode()).hexdigest()


def _account(user: User) -> Account:
    return Account(
        id=user.id,
        name=user.name,
        email=user.email,
        is_admin=user.is_admin,
        email_verified=user.email_verified_at is not None,
    )


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, name: str, email: str, password_hash: str, *, admin_if: Callable[[int], bool]
    ) -> Account:
        """Create an account, made the instance admin if ``admin_if`` says so of the number
        of accounts before it (the rule is `mosaic.domain.accounts.admin_at_creation`). The
        count and the creation share one transaction."""
        async with self._db.session() as session, session.begin():
            count = await session.scalar(select(func.count()).select_from(User)) or 0
            user = User(
                name=name, email=email, password_hash=password_hash, is_admin=admin_if(count)
            )
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

    async def find(self, email: str) -> Account | None:
        async with self._db.session() as session:
            user = await session.scalar(select(User).where(User.email == email))
            return _account(user) if user else None

    async def unverified(self, limit: int = 500) -> list[Account]:
        """Accounts whose address nobody proved yet, oldest first (for the instance admin)."""
        async with self._db.session() as session:
            users = await session.scalars(
                select(User).where(User.email_verified_at.is_(None)).order_by(User.id).limit(limit)
            )
            return [_account(user) for user in users]

    async def mark_verified(self, user_id: int, now: datetime | None = None) -> Account | None:
        """An admin vouches for an account's address (instances without mail, lost mails)."""
        now = now or datetime.now(UTC)
        async with self._db.session() as session, session.begin():
            user = await session.get(User, user_id)
            if user is None:
                return None
            if user.email_verified_at is None:
                user.email_verified_at = now
            await session.execute(delete(EmailToken).where(EmailToken.user_id == user_id))
            return _account(user)

    # -- links mailed to an address -----------------------------------------------------------

    async def issue_email_token(
        self,
        user_id: int,
        email: str,
        *,
        new_password_hash: str | None = None,
        new_name: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """A single-use token for a link mailed to ``email``; only its digest is stored."""
        now = now or datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        async with self._db.session() as session, session.begin():
            session.add(
                EmailToken(
                    token_hash=token_digest(token),
                    user_id=user_id,
                    email=email,
                    new_password_hash=new_password_hash,
                    new_name=new_name,
                    created_at=now,
                    expires_at=now + EMAIL_TOKEN_LIFETIME,
                )
            )
        return token

    async def email_token_password(self, token: str, now: datetime | None = None) -> str | None:
        """The password hash that whoever follows this link must match, or None if the link
        is unknown, used or expired: the account's password, or for a link that hands the
        account over, the password of that sign-up attempt.

        Proving the mailbox is not enough on its own: an attacker who signs up with someone
        else's address sends that person a link, and one careless click would verify the
        attacker's account. Asking for the password chosen at sign-up means only the person
        who signed up *and* reads the mailbox can verify."""
        now = now or datetime.now(UTC)
        async with self._db.session() as session:
            row = await session.scalar(
                select(EmailToken).where(EmailToken.token_hash == token_digest(token))
            )
            if row is None or _aware(row.expires_at) <= now:
                return None
            if row.new_password_hash is not None:
                return row.new_password_hash
            user = await session.get(User, row.user_id)
            return user.password_hash if user is not None else None

    async def redeem_email_token(self, token: str, now: datetime | None = None) -> Account | None:
        """Follow a mailed link: the address is verified, once. None if the token is unknown,
        used, expired, or the account's address changed since it was sent.

        A token that carries a password (sent to the address of a never-verified account) also
        gives the account that password and name and ends its sessions: whoever reads the
        mailbox owns the address, and a squatter who signed up with it first loses it."""
        now = now or datetime.now(UTC)
        async with self._db.session() as session, session.begin():
            row = await session.scalar(
                select(EmailToken).where(EmailToken.token_hash == token_digest(token))
            )
            if row is None:
                return None
            # Single use even under a race: only the request whose delete removed the row wins.
            taken = await session.execute(delete(EmailToken).where(EmailToken.id == row.id))
            if taken.rowcount != 1 or _aware(row.expires_at) <= now:
                return None
            user = await session.get(User, row.user_id)
            if user is None or user.email != row.email:
                return None
            if row.new_password_hash is not None:
                if user.email_verified_at is not None:
                    return None  # the address was proved meanwhile: nothing to hand over
                user.password_hash = row.new_password_hash
                user.name = row.new_name or user.name
                await session.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
            user.email_verified_at = user.email_verified_at or now
            await session.execute(delete(EmailToken).where(EmailToken.user_id == user.id))
            return _account(user)

    async def start_session(self, user_id: int, now: datetime | None = None) -> tuple[str, str]:
        """A new session for a user: returns (cookie token, CSRF token). Only the tokens'
        digests are stored, so a copy of the database signs nobody in and forges no write."""
        now = now or datetime.now(UTC)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(24)
        async with self._db.session() as session, session.begin():
            session.add(
                AuthSession(
                    token_hash=token_digest(token),
                    csrf_hash=token_digest(csrf),
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
                select(User, AuthSession.csrf_hash, AuthSession.expires_at)
                .join(AuthSession, AuthSession.user_id == User.id)
                .where(AuthSession.token_hash == token_digest(token))
            )
            found = row.first()
        if found is None:
            return None
        user, csrf, expires_at = found
        if _aware(expires_at) <= now:
            return None
        return SignedIn(account=_account(user), csrf_hash=csrf)

    async def end_session(self, token: str) -> None:
        async with self._db.session() as session, session.begin():
            await session.execute(
                delete(AuthSession).where(AuthSession.token_hash == token_digest(token))
            )

    async def purge_expired_sessions(self, now: datetime | None = None) -> int:
        """Delete expired sessions and expired mailed links (housekeeping)."""
        now = now or datetime.now(UTC)
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
            await session.execute(delete(EmailToken).where(EmailToken.expires_at <= now))
            return result.rowcount or 0


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; they were stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
