"""Per-meeting security events, reports to the admin, and chat kept by the host's choice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from mosaic.store.db import Database
from mosaic.store.models import AuditEvent, ChatMessage, Report


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    kind: str
    actor: str | None
    subject: str | None
    detail: str | None

    def public(self) -> dict[str, str | None]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "detail": self.detail,
        }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Audit:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(
        self,
        meeting_id: str,
        kind: str,
        *,
        actor: str | None = None,
        subject: str | None = None,
        detail: str | None = None,
        at: datetime | None = None,
    ) -> None:
        async with self._db.session() as session, session.begin():
            session.add(
                AuditEvent(
                    meeting_id=meeting_id,
                    at=at or datetime.now(UTC),
                    kind=kind,
                    actor=actor,
                    subject=subject,
                    detail=detail,
                )
            )

    async def events(self, meeting_id: str, limit: int = 500) -> list[AuditEntry]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.meeting_id == meeting_id)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .limit(limit)
            )
            return [AuditEntry(_aware(r.at), r.kind, r.actor, r.subject, r.detail) for r in rows]

    async def purge_older_than(self, days: int, now: datetime | None = None) -> int:
        """Delete events past the retention period; returns how many went."""
        cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
        async with self._db.session() as session, session.begin():
            result = await session.execute(delete(AuditEvent).where(AuditEvent.at < cutoff))
            return result.rowcount or 0

    async def report(
        self, meeting_id: str, reporter_name: str, reported_name: str, reason: str
    ) -> None:
        async with self._db.session() as session, session.begin():
            session.add(
                Report(
                    meeting_id=meeting_id,
                    at=datetime.now(UTC),
                    reporter_name=reporter_name,
                    reported_name=reported_name,
                    reason=reason,
                )
            )

    async def reports(self, limit: int = 200) -> list[dict[str, object]]:
        async with self._db.session() as session:
            rows = await session.scalars(select(Report).order_by(Report.at.desc()).limit(limit))
            return [
                {
                    "id": r.id,
                    "meeting_id": r.meeting_id,
                    "at": _aware(r.at).isoformat(),
                    "reporter": r.reporter_name,
                    "reported": r.reported_name,
                    "reason": r.reason,
                    "resolved": r.resolved,
                }
                for r in rows
            ]

    async def keep_chat(
        self, meeting_id: str, sender_name: str, recipient_name: str | None, text: str
    ) -> None:
        async with self._db.session() as session, session.begin():
            session.add(
                ChatMessage(
                    meeting_id=meeting_id,
                    at=datetime.now(UTC),
                    sender_name=sender_name,
                    recipient_name=recipient_name,
                    text=text,
                )
            )

    async def chat_messages(self, meeting_id: str) -> list[dict[str, object]]:
        async with self._db.session() as session:
            rows = await session.scalars(
                select(ChatMessage)
                .where(ChatMessage.meeting_id == meeting_id)
                .order_by(ChatMessage.at, ChatMessage.id)
            )
            return [
                {
                    "at": _aware(r.at).isoformat(),
                    "from": r.sender_name,
                    "to": r.recipient_name,
                    "text": r.text,
                }
                for r in rows
            ]
