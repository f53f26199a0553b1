"""The door of every meeting: who may try, how often, and with what proof.

War-dialers guess meeting IDs and passcodes, so a wrong passcode and an unknown meeting get the
same answer after the same work (an argon2 verification either way). Every attempt is counted
as a failure *before* that work (see mosaic.security.throttle): the address that guesses is
refused up front once its free failures are spent, whereas the meeting is never shut: a flood
of wrong passcodes slows the wrong answers and tells the hosts, and the right passcode from
another address still gets in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import NoReturn

from mosaic.cluster.link import ClusterUnavailable
from mosaic.domain.access import Refusal, Visitor
from mosaic.domain.ids import normalize_meeting_id
from mosaic.security.hashing import verify_secret
from mosaic.security.throttle import (
    Gate,
    GateRule,
    Limits,
    Refused,
    Reservation,
    Throttle,
    guessing_throttle,
    source_key,
)
from mosaic.signaling.protocol import ErrorCode, Join, ProtocolError
from mosaic.signaling.resume import ResumeClaim
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


def join_throttles(
    per_minute: float, free_failures: int = 5, limits: Limits | None = None
) -> tuple[Throttle, Gate]:
    """(per client address or IPv6 /64, per meeting), from ``limits``: this process's memory,
    or Redis in a cluster, where every worker counts the same attempts.

    The pace limit is generous, because a whole class may join from one school address; it is
    failures that cost. An address gets 5 free mistakes, then each one doubles its wait, up to
    15 minutes: war-dialing crawls. A meeting is never refused: 8 passcode checks run on it at
    once (a 1,000-person join storm still flows), and beyond 50 failures in 10 minutes from
    everywhere (many people mistyping) each wrong answer is delayed by up to 2 s, which a
    guessing address serves holding one of the 8 slots: a botnet guesses at most 4 passcodes
    a second (the passcode has 40 bits), while the right one is checked first, at once.
    """
    limits = limits or Limits()
    per_address = guessing_throttle(per_minute, free_failures, limits, "join")
    per_meeting = limits.gate(
        "join-meeting",
        GateRule(
            concurrent=8,
            free_failures=max(50, free_failures * 10),
            window_s=600.0,
            delay_step_s=0.1,
            max_delay_s=2.0,
        ),
    )
    return per_address, per_meeting


@dataclass
class Door:
    meetings: Meetings
    rooms: Rooms
    per_address: Throttle
    per_meeting: Gate
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
        try:
            async with await self._reserve(address, request.id) as reservation:
                meeting_id = normalize_meeting_id(request.meeting) or request.meeting[:40]
                record = await self.meetings.get(meeting_id)
                is_host = record is not None and visitor.user_id == record.host_user_id
                if not is_host:
                    await self._check_passcode(record, meeting_id, request, reservation)
                await reservation.succeeded()
        except ClusterUnavailable:
            # The cluster's limits live in Redis: without them no guess is let through
            # unchecked, and the client may ask again in a moment.
            raise ProtocolError(
                ErrorCode.UNAVAILABLE,
                "the service is unavailable; try again in a moment",
                request.id,
                reason="unavailable",
            ) from None
        assert record is not None
        room, refusal = await self.admission(record, visitor)
        if room is None:
            assert refusal is not None
            code, message = REFUSALS[refusal]
            self.rooms.audit(record.id, "refused", subject=request.name, detail=refusal.value)
            raise ProtocolError(code, message, request.id, reason=refusal.value)
        return room

    async def admission(
        self, record: MeetingRecord, visitor: Visitor, *, returning: bool = False
    ) -> tuple[Room, None] | tuple[None, Refusal]:
        """May this visitor enter? Decided by the domain on the meeting's stored state.

        ``record`` is the meeting as just read from the store, the one source of truth for
        settings, lock, end and bans: a change made through REST or in the meeting is there
        before the next join. A live room older than the record is brought up to it (a newer
        one holds a change of its own being stored). Whether the visitor's device was
        admitted here before is looked up when it matters (after a removal). The host
        entering an ended meeting starts it again. Returns the room to enter, or the refusal;
        a refused visitor opens no room. ``returning``: see `MeetingAccess.refusal_for`.
        """
        if record.ended and record.access.is_host(visitor):
            record = await self.meetings.update(record.id, ended=False) or record
        journaled = await self.rooms.journaled(record.id)
        live = self.rooms.get(record.id)
        if live is not None and not live.meeting.ended:
            live.apply_stored(record)
            access, known_devices = live.meeting.access(), live.meeting.known_devices
        else:
            access, known_devices = record.access, set()
        device = visitor.device_id
        known = visitor.known or (device is not None and device in known_devices)
        if access.bans and device is not None and not known:
            known = await self.meetings.knows_device(record.id, device)
            if known:
                # The live room may have been brought up to date meanwhile: ask it again.
                live = self.rooms.get(record.id)
                if live is not None and not live.meeting.ended:
                    access = live.meeting.access()
        refusal = access.refusal_for(replace(visitor, known=known), returning=returning)
        if refusal is not None:
            return None, refusal
        # No await from here to the caller's entering: the room cannot empty and close between.
        room = self.rooms.open(record, journaled)
        if known and device is not None:
            room.meeting.known_devices.add(device)
        return room, None

    async def readmit(
        self, token: str, visitor: Visitor, request_id: int
    ) -> tuple[Room, ResumeClaim, Visitor]:
        """Check a resume token; return the room, what the token says, and who the returning
        participant is (their account and device as when they were let in).

        A participant this process still holds is found in memory. One it does not know (the
        server restarted, or the connection stayed away past the grace) comes back without
        passcode or waiting room, which it passed before, but not after it left or was turned
        away from this room, nor into a meeting that ended, nor one it was removed from: the
        meeting's stored state decides, as for any join (`admission`), except that the lock,
        which keeps newcomers out, does not put out someone who was in. No throttle: a token
        cannot be guessed (HMAC-SHA256), and a restart brings a whole school back from one
        address at once.
        """
        claim = self.rooms.resume_tokens.read(token)
        if claim is None or (claim.user_id is not None and claim.user_id != visitor.user_id):
            # Forged, altered, expired, or a signed-in participant's token without its
            # account's session (a stolen host token makes nobody host).
            self.failures["bad_resume_token"] += 1
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED,
                "this resume token is not valid (any more)",
                request_id,
                reason="bad_resume_token",
            )
        # Who they were when let in: their account, and the device the token was issued to (a
        # device this meeting admitted is known: an address ban alone does not keep it out).
        returning = Visitor(
            user_id=claim.user_id,
            email=visitor.email if claim.user_id is not None else None,
            email_verified=visitor.email_verified and claim.user_id is not None,
            device_id=claim.device_id or visitor.device_id,
            address=visitor.address,
            known=claim.admitted and claim.device_id is not None,
        )
        live = self.rooms.get(claim.meeting_id)
        if live is not None and live.meeting.ended:  # and closing: nothing to come back to
            self._refuse(claim, Refusal.ENDED, request_id)
        if live is not None and claim.participant_id in live.members:
            return live, claim, returning
        # Who left for good, as this room knows it, or as the meeting's previous home
        # journaled it (that worker died or handed the meeting over).
        if live is not None:
            departed = live.departed
        else:
            departed = ((await self.rooms.journaled(claim.meeting_id)) or {}).get("departed", {})
        if claim.participant_id in departed:
            if departed[claim.participant_id] == "removed":
                self._refuse(claim, Refusal.REMOVED, request_id)
            raise ProtocolError(ErrorCode.NOT_FOUND, "nothing to resume", request_id, reason="left")
        record = await self.meetings.get(claim.meeting_id)
        if record is None:  # deleted since
            code, message = REFUSALS[Refusal.ENDED]
            raise ProtocolError(code, message, request_id, reason=Refusal.ENDED.value)
        room, refusal = await self.admission(record, returning, returning=True)
        if room is None:
            assert refusal is not None
            self._refuse(claim, refusal, request_id)
        return room, claim, returning

    def _refuse(self, claim: ResumeClaim, refusal: Refusal, request_id: int) -> NoReturn:
        code, message = REFUSALS[refusal]
        self.rooms.audit(claim.meeting_id, "refused", subject=claim.name, detail=refusal.value)
        self.failures[refusal.value] += 1
        raise ProtocolError(code, message, request_id, reason=refusal.value)

    async def _reserve(self, address: str, request_id: int) -> Reservation:
        """This address's attempt, counted as a failure until the passcode is right."""
        try:
            return await self.per_address.acquire("addr:" + source_key(address))
        except Refused as refused:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many attempts; try again in {max(1, round(refused.retry_after))} s",
                request_id,
            ) from None

    async def _check_passcode(
        self,
        record: MeetingRecord | None,
        meeting_id: str,
        request: Join,
        reservation: Reservation,
    ) -> None:
        """Verify the passcode in one of the meeting's turns (the cleanest addresses first);
        a wrong one is answered late when the meeting is under attack, and tells its hosts."""
        try:
            async with self.per_meeting.turn(
                "meeting:" + meeting_id, rank=reservation.rank
            ) as turn:
                if await self._passcode_ok(record, request.passcode):
                    await turn.succeeded()
                elif await turn.failed() and record is not None:
                    self._alert_hosts(meeting_id, turn.recent_failures)
        except Refused as refused:
            raise ProtocolError(
                ErrorCode.RATE_LIMITED,
                f"too many attempts; try again in {max(1, round(refused.retry_after))} s",
                request.id,
            ) from None
        if not turn.ok:
            raise ProtocolError(
                ErrorCode.UNAUTHORIZED, NOT_ADMITTED, request.id, reason="bad_passcode_or_id"
            )

    def _alert_hosts(self, meeting_id: str, failures: int) -> None:
        """Someone is guessing this meeting's passcode: its hosts and co-hosts hear of it
        (they may lock the meeting or change the passcode), and the audit log keeps it."""
        room = self.rooms.get(meeting_id)
        if room is None:
            return
        room.audit("passcode_guessing", detail=f"{failures} wrong attempts lately")
        room.alert({"type": "alert", "code": "passcode_guessing", "failures": failures})

    @staticmethod
    async def _passcode_ok(record: MeetingRecord | None, passcode: str | None) -> bool:
        if record is None:
            await verify_secret(None, passcode or "")
            return False
        if not record.settings.passcode_required:
            return True
        # A required passcode with no hash on file fails closed (the decoy costs the same time).
        return await verify_secret(record.passcode_hash, passcode or "")
