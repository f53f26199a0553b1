"""Who may enter a meeting, and who waits first: decided on the meeting's stored entry state.

Pure rules, no I/O. The door asks them of the state stored with the meeting (so a change made
anywhere applies to the very next join); a live meeting asks them of its own copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from mosaic.domain.roster import Participant
from mosaic.domain.settings import MeetingSettings


class Refusal(StrEnum):
    """Why someone may not enter; the signaling layer maps these to typed errors."""

    ENDED = "ended"
    REMOVED = "removed"
    LOCKED = "locked"
    SIGN_IN_REQUIRED = "sign_in_required"
    DOMAIN_NOT_ALLOWED = "domain_not_allowed"
    EMAIL_NOT_VERIFIED = "email_not_verified"


@dataclass(frozen=True, slots=True)
class Visitor:
    """What is known about someone at the door.

    ``device_id`` and ``address`` are pseudonyms (keyed hashes) of the server-issued device
    cookie and of the client address: opaque here, compared for equality only. ``known`` says
    that this device was admitted to this meeting before (the door looks it up)."""

    user_id: int | None = None
    email: str | None = None
    # Whether the account's owner proved ``email`` is theirs (a mailed link, or the admin's
    # word): anyone can sign up with any address, so an unproved one satisfies no rule.
    email_verified: bool = False
    device_id: str | None = None
    address: str | None = None
    known: bool = False


@dataclass(frozen=True, slots=True)
class Bans:
    """Who hosts put out of a meeting, by what a client cannot choose: the account, the
    server-issued device, the address. Stored with the meeting, so they outlive the room."""

    accounts: frozenset[int] = frozenset()
    devices: frozenset[str] = frozenset()
    addresses: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.accounts or self.devices or self.addresses)

    def with_participant(self, participant: Participant) -> Bans:
        """These bans, plus everything that identifies a removed participant."""
        user, device, address = participant.user_id, participant.device_id, participant.address
        return Bans(
            accounts=self.accounts if user is None else self.accounts | {user},
            devices=self.devices if device is None else self.devices | {device},
            addresses=self.addresses if address is None else self.addresses | {address},
        )


@dataclass(frozen=True, slots=True)
class MeetingAccess:
    """Everything that decides who enters a meeting, as stored with it (settings, lock, end,
    bans). The door decides on this, so a change made anywhere (REST, in the meeting, another
    process before a restart) applies to the very next join. ``version`` grows with every
    stored change: a copy never replaces a newer one."""

    host_user_id: int | None
    settings: MeetingSettings = field(default_factory=MeetingSettings)
    locked: bool = False
    ended: bool = False
    bans: Bans = field(default_factory=Bans)
    version: int = 0

    def is_host(self, visitor: Visitor) -> bool:
        return self.host_user_id is not None and visitor.user_id == self.host_user_id

    def refusal_for(self, visitor: Visitor, *, returning: bool = False) -> Refusal | None:
        """Why this visitor may not enter at all, or None.

        The host always gets in (and re-opens an ended meeting, as in Zoom). A removal holds
        on the account, the device and, for guests the meeting does not know, the address: a
        new device id, no device, or signing out changes nothing. ``returning`` is someone the
        meeting had let in before a restart (a valid resume token): the lock, put on to keep
        newcomers out, does not apply to them; an end and a removal do."""
        if self.is_host(visitor):
            return None
        if self.ended:
            return Refusal.ENDED
        bans = self.bans
        if (visitor.user_id is not None and visitor.user_id in bans.accounts) or (
            visitor.device_id is not None and visitor.device_id in bans.devices
        ):
            return Refusal.REMOVED
        if (
            visitor.address is not None
            and visitor.address in bans.addresses
            and visitor.user_id is None
            and not visitor.known
        ):
            return Refusal.REMOVED
        if self.locked and not returning:
            return Refusal.LOCKED
        if self.settings.signed_in_only and visitor.user_id is None:
            return Refusal.SIGN_IN_REQUIRED
        domains = self.settings.allowed_email_domains
        if domains and not _email_in_domains(visitor.email, domains):
            return Refusal.DOMAIN_NOT_ALLOWED
        # "Signed-in users only" asks for someone accountable, and an account nobody verified
        # is free and nameless (any address, no mailbox): it needs a verified address too.
        if (self.settings.signed_in_only or domains) and not visitor.email_verified:
            return Refusal.EMAIL_NOT_VERIFIED
        return None

    def must_wait(self, visitor: Visitor) -> bool:
        """Whether a visitor who may enter goes to the waiting room first.

        Besides the waiting room itself: after a removal (unless the host turned
        ``wait_after_removal`` off), guests without an account whose device the meeting has
        not admitted before wait, so that a removed guest who found a new browser or network
        meets the host again instead of the meeting; a signed-in newcomer from a removed
        participant's address waits too (a new account is cheap)."""
        if self.is_host(visitor):
            return False
        if self.settings.waiting_room:
            return True
        if visitor.known or not self.bans:
            return False
        if visitor.user_id is None:
            return self.settings.wait_after_removal
        return visitor.address is not None and visitor.address in self.bans.addresses


def _email_in_domains(email: str | None, domains: list[str]) -> bool:
    if not email or "@" not in email:
        return False
    return email.rsplit("@", 1)[1].lower() in domains
