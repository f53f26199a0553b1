"""Tables. Secrets are stored only as hashes: argon2 for what people choose or type
(passwords, passcodes), SHA-256 for high-entropy bearer tokens (session cookies, CSRF tokens,
e-mail links)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(128))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # When the owner proved the address is theirs (a mailed link, or an admin's word); until
    # then the address satisfies no e-mail domain rule.
    email_verified_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class EmailToken(Base):
    """A single-use link mailed to an address (SHA-256 of the token only). A link sent to an
    address held by a never-verified account also carries the password and name of that
    sign-up attempt: following it proves the mailbox and hands the account to its owner."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(254))
    new_password_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    new_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuthSession(Base):
    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # SHA-256 of the CSRF token, like the session token: a copy of the database forges nothing.
    csrf_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiToken(Base):
    """A personal API token (SHA-256 of it only, like a session's): what scripts send as
    ``Authorization: Bearer``, scoped (`mosaic.domain.scopes`, space-separated) and revocable
    (revoking deletes the row)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(200))
    passcode_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)
    settings: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # Entry state kept across empty rooms and restarts; state_version grows with each change
    # so that a live room never takes an older copy for a newer one.
    locked: Mapped[bool] = mapped_column(default=False, server_default=false())
    ended: Mapped[bool] = mapped_column(default=False, server_default=false())
    state_version: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (Index("ix_meetings_host_created", "host_user_id", "created_at"),)


class MeetingBan(Base):
    """Who a host removed from a meeting: ``kind`` is account (the user id), device or address
    (keyed hashes: `mosaic.security.device`, never the cookie or the address itself). Address
    bans expire (addresses change hands); the others last as long as the meeting."""

    __tablename__ = "meeting_bans"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (UniqueConstraint("meeting_id", "kind", "value"),)


class MeetingDevice(Base):
    """A device (keyed hash) a meeting admitted: after a removal, it is not a stranger."""

    __tablename__ = "meeting_devices"

    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """A security event in a meeting (join, admit, deny, removal, lock, report...).

    Holds participant ids and display names, never passcodes, tokens, chat or e-mail addresses,
    and is deleted after the retention period."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(100), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(100), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)


class Report(Base):
    """A host's report of a participant to the instance admin."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reporter_name: Mapped[str] = mapped_column(String(64))
    reported_name: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(1000))
    resolved: Mapped[bool] = mapped_column(default=False)


class ChatMessage(Base):
    """Chat kept only for meetings whose host turned chat recording on."""

    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[str] = mapped_column(String(32), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sender_name: Mapped[str] = mapped_column(String(64))
    recipient_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    text: Mapped[str] = mapped_column(Text)


class Recording(Base):
    """A server recording of a meeting: its files live under the data directory
    (``directory``, relative to it), readable by the meeting's host and the admin only.
    ``stopped_at`` stays empty while it runs (or if the server died during it)."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    meeting_id: Mapped[str] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    host_user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    directory: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
