"""Resume tokens: how a participant gets back to its place, even from a restarted server.

The room keeps a dropped participant's place in memory for a while, but a restarted server (an
upgrade) remembers no one. So the token a participant holds says, signed by the server, who it
is in which meeting: its participant id, display name, role, and whether it was admitted. A new
process believes it (the signing key lives in the data directory), and the participant comes
back with its role and without a new trip through the waiting room or the passcode check.

What the token does *not* carry is believed from elsewhere: a signed-in participant's token
names its account, and is worthless without that account's session cookie (so a host's token,
stolen, makes nobody host); whether the meeting ended or the participant was removed is asked
of the meeting, as for any join. Tokens live a few minutes and are renewed while connected
(`REFRESH_S`) and whenever the role or name changes, so a token lost with an old log or a
screenshot soon opens nothing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mosaic.domain.roster import Participant, Role, State
from mosaic.security.signing import Signer

PURPOSE = "resume"
# Long enough to ride out a restart or a network change; short enough to be worth little.
TTL_S = 300.0
# A connected participant gets a fresh token this often, so the one it holds is never older.
REFRESH_S = 120.0


@dataclass(frozen=True, slots=True)
class ResumeClaim:
    """What a valid resume token says."""

    meeting_id: str
    participant_id: str
    name: str
    role: Role
    admitted: bool
    user_id: int | None
    device_id: str | None
    issued_at: float


class ResumeTokens:
    """Issues and reads resume tokens with the server's signing key."""

    def __init__(self, key: bytes, ttl_s: float = TTL_S) -> None:
        self._signer = Signer(key, PURPOSE)
        self.ttl_s = ttl_s

    def issue(self, meeting_id: str, participant: Participant, now: float | None = None) -> str:
        now = time.time() if now is None else now
        payload = {
            "m": meeting_id,
            "p": participant.id,
            "n": participant.name,
            "r": participant.role.value,
            "a": participant.state is State.ADMITTED,
            "u": participant.user_id,
            "d": participant.device_id,
            "i": int(now),
        }
        return self._signer.sign(payload, self.ttl_s, now=now)

    def read(self, token: str, now: float | None = None) -> ResumeClaim | None:
        """The claim, or None for a token that is forged, altered, expired or malformed."""
        payload = self._signer.verify(token, now=now)
        if payload is None:
            return None
        try:
            user_id, device_id = payload["u"], payload["d"]
            claim = ResumeClaim(
                meeting_id=str(payload["m"]),
                participant_id=str(payload["p"]),
                name=str(payload["n"]),
                role=Role(payload["r"]),
                admitted=payload["a"] is True,
                user_id=user_id if isinstance(user_id, int) else None,
                device_id=device_id if isinstance(device_id, str) else None,
                issued_at=float(payload["i"]),
            )
        except (KeyError, ValueError, TypeError):
            return None
        return claim
