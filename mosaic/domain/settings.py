"""A meeting's settings: the switches a host sets, with safe defaults.

The defaults are the post-2020 lesson: a passcode and a waiting room on every new meeting,
only the host shares the screen, and nobody renames themselves once admitted.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")


class Who(StrEnum):
    """Who may do a thing that a host can open to everyone."""

    HOSTS = "hosts"
    EVERYONE = "everyone"


class MeetingSettings(BaseModel):
    """Per-meeting switches. Unknown fields are refused so a typo never silently does nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passcode_required: bool = True
    waiting_room: bool = True
    screen_share: Who = Who.HOSTS
    participants_may_unmute: bool = True
    participants_may_start_video: bool = True
    participants_may_chat: bool = True
    participants_may_rename: bool = False
    signed_in_only: bool = False
    allowed_email_domains: list[str] = Field(default_factory=list, max_length=20)
    record_chat: bool = False
    # After someone is removed, guests without an account whose device the meeting has not
    # admitted before wait for a host, even with the waiting room off (a removed guest in a
    # new browser meets the host, not the meeting). The host may turn this off.
    wait_after_removal: bool = True
    # Recording is the host's decision; the host may hand it to co-hosts for this meeting.
    cohosts_may_record: bool = False
    # End-to-end encryption (docs/e2ee.md): the clients encrypt media and chat with a key the
    # server never sees; the server relays ciphertext, keeps no chat and cannot record.
    e2ee: bool = False

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains_are_domains(cls, domains: list[str]) -> list[str]:
        cleaned = [d.strip().lower().lstrip("@") for d in domains]
        for domain in cleaned:
            if not _DOMAIN_RE.match(domain):
                raise ValueError("not an e-mail domain")  # never the input: it is echoed
        return cleaned


class InstancePolicy(BaseModel):
    """What an instance admin imposes on every meeting (hosts cannot loosen it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    require_passcode: bool = False
    require_waiting_room: bool = False
    require_e2ee: bool = False

    def violations(self, settings: MeetingSettings) -> list[str]:
        """The settings this policy forbids, named, so an API can say which."""
        problems = []
        if self.require_passcode and not settings.passcode_required:
            problems.append("passcode_required")
        if self.require_waiting_room and not settings.waiting_room:
            problems.append("waiting_room")
        if self.require_e2ee and not settings.e2ee:
            problems.append("e2ee")
        return problems

    def imposed(self, settings: MeetingSettings, given: set[str]) -> MeetingSettings:
        """The settings of a new meeting with what this policy requires switched on where the
        host did not say (`given`): a host who never heard of E2EE still gets a meeting,
        while one who asks for it off is told why not (`violations`)."""
        if self.require_e2ee and "e2ee" not in given:
            return settings.model_copy(update={"e2ee": True})
        return settings
