"""The door of every meeting: who may try, how often, and with what proof.

War-dialers guess meeting IDs and passcodes, so a wrong passcode and an unknown meeting get the
same answer after the same work (an argon2 verification either way), and every failure slows
the next attempt from that address and on that meeting.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from mosaic.domain.ids import normalize_meeting_id
from mosaic.domain.meeting import Refusal, Visitor
from mosaic.security.hashing import verify_secret
from mosaic.security.throttle import Throttle
from mosaic.signaling.protocol import ErrorCode, Join, ProtocolError
from mosaic.signaling.room import Room
from mosaic.signaling.rooms import Rooms
from mosaic.store.meetings import MeetingRecord, Meetings

NOT_ADMITTED = "meeting not found or wrong passcode"
REFUSALS = {
    Refusal.ENDED: (ErrorCode.NOT_FOUND, "this meeting has ended"),
    Refusal.REMOVED: (ErrorCode.FORBIDDEN, "you were removed from this meeting"),
    Refusal.LOCKED: (ErrorCode.FORBIDDEN, "this meeting is locked"),
    Refusal.SIGN_IN_REQUIRED: (ErrorCode.UNAUTHORIZED, "sign in to join this meeting"),
    Refusal.DOMAIN_NOT_ALLOWED: (
        ErrorCode.FORBIDDEN,
        "this meeting is open to some e-mail domains only",
    ),
    Refusal.EMAIL_NOT_VERIFIED: (
        ErrorCode.FORBIDDEN,
        "verify your e-mail address to join this meeting (see your account page)",
    ),
}


def join_throttles(per_minute: float, free_failures: int = 5) -> tuple[Throttle, Throttle]:
    """(per client address, per meeting).

    The pace limit is generous, because a whole class may join from one school address; it is
    failures that cost. An address gets 5 free mistakes, then each one doubles its wait, up to
    15 minutes: war-dialing crawls. A meeting tolerates 50 failures from everywhere (many
    people mistyping) before a distributed guesser makes its door slow down too.
    """
    per_address = Throttle(
        per_minute=per_minute,
        burst=max(1, int(per_minute / 2)),
        free_failures=free_failures,
        backoff_base_s=1.0,
        backoff_max_s=900.0,
    )
    per_meeting = Throttle(
        per_minute=per_minute * 10,
        burst=max(1, int(per_minute * 5)),
        free_failures=max(50, free_failures * 10),
        backoff_base_s=1.0,
        backoff_max_s=60.0,
    )
    return per_address, per_meeting


@dataclass
class Door:
    meetings: Meetings
    rooms: Rooms
    per_address: Throttle
    per_meeting: Throttle
    # Refused joins by reason, for metrics.
    failures: Counter[str] = field(default_factory=Counter)

    async def open(self, request: Join, visitor: Visitor, address: str) -> Room:
        try:
            return await self._open(request, visitor, address)
        except ProtocolError as error:
            self.failures[error.reason or error.code] += 1
            raise

    async def _open(self, request: Join, visitor: Visitor, address: str) -> Room:
        """Check a join request; return the room to enter or raise `ProtocolError`."""
        now = time.monotonic()
        self._check(self.per_address, "addr:" + address, now, request.id)
        meeting_id = normalize_meeting_id(request.meeting) or request.meeting[:40]
        record = await self.meetings.get(meeting_id)
        is_host = record is not None and visitor.user_id == record.host_user_id
        if not is_host:
            self._check(self.per_meeting, "meeting:" + meeting_id, now, request.id)
            if not await self._passcode_ok(record, request.passcode):
                self.per_address.failed("addr:" + address, time.monotonic())
                self.per_meeting.failed("meeting:" + meeting_id, time.monotonic())
                raise ProtocolError(
                    ErrorCode.UNAUTHORIZED, NOT_ADMITTED, request.id, reason="bad_passcode_or_id"
                )
        assert record is not None
        room = self.rooms.open(record)
        refusal = room.meeting.refusal_for(visitor)
        if refusal is not None:
            code, message = REFUSALS[refusal]
            room.audit("refused", subject=request.name, detail=refusal.value)
            raise ProtocolError(code, message, request.id, reason=refusal.value)
        return room

    @staticmethod
    def _check(throttle: Throttle, key: str, now: float, request_id: int) -> None:
        wait = throttle.retry_after(key, now)
        if wait > 0:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many attempts; try again in {max(1, round(wait))} s",
                request_id,
            )

    @staticmethod
    async def _passcode_ok(record: MeetingRecord | None, passcode: str | None) -> bool:
        if record is None:
            await verify_secret(None, passcode or "")
            return False
        if not record.settings.passcode_required:
            return True
        # A required passcode with no hash on file fails closed (the decoy costs the same time).
        return await verify_secret(record.passcode_hash, passcode or "")
