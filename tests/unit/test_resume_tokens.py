"""Resume tokens: what they say, for how long, and that nothing else passes for one."""

from __future__ import annotations

from mosaic.domain.access import Visitor
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.roster import Participant, Role, State
from mosaic.security.signing import Signer
from mosaic.signaling.protocol import parse_client_message
from mosaic.signaling.resume import TTL_S, ResumeTokens

KEY = b"k" * 32


def cohost() -> Participant:
    return Participant(
        "p0123456789ab", "Cora", Role.COHOST, State.ADMITTED, 0.0, user_id=7, device_id="dev"
    )


def test_a_token_says_who_and_what_until_it_expires() -> None:
    tokens = ResumeTokens(KEY)
    token = tokens.issue("kq7w-m3xe-p9hd", cohost(), now=1000)
    claim = tokens.read(token, now=1000 + TTL_S - 1)
    assert claim is not None
    assert (claim.meeting_id, claim.participant_id, claim.name) == (
        "kq7w-m3xe-p9hd",
        "p0123456789ab",
        "Cora",
    )
    assert (claim.role, claim.admitted, claim.user_id, claim.device_id) == (
        Role.COHOST,
        True,
        7,
        "dev",
    )
    assert tokens.read(token, now=1000 + TTL_S + 1) is None


def test_another_key_or_purpose_or_a_changed_byte_is_no_token() -> None:
    token = ResumeTokens(KEY).issue("kq7w-m3xe-p9hd", cohost(), now=1000)
    assert ResumeTokens(b"x" * 32).read(token, now=1001) is None
    device_cookie = Signer(KEY, "device").sign({"d": "dev"}, ttl_s=60, now=1000)
    assert ResumeTokens(KEY).read(device_cookie, now=1001) is None
    body, mac = token.split(".")
    changed = body[:-1] + ("B" if body.endswith("A") else "A")
    assert ResumeTokens(KEY).read(f"{changed}.{mac}", now=1001) is None


def test_a_signed_token_fits_the_resume_request() -> None:
    token = ResumeTokens(KEY).issue("kq7w-m3xe-p9hd", cohost())
    request = parse_client_message(f'{{"id": 1, "type": "resume", "token": "{token}"}}')
    assert request.token == token  # type: ignore[attr-defined]


def test_rejoining_keeps_the_role_and_the_admission_but_host_is_the_hosts_alone() -> None:
    meeting = LiveMeeting(id="m", topic="t", host_user_id=1)
    meeting.locked = True  # keeps newcomers out, not those who were in
    back = meeting.rejoin("p000000000001", "Cora", Visitor(), Role.COHOST, True, 0.0)
    assert (back.role, back.state) == (Role.COHOST, State.ADMITTED)
    waiting = meeting.rejoin("p000000000002", "Walt", Visitor(), Role.PARTICIPANT, False, 0.0)
    assert waiting.state is State.WAITING
    pretender = meeting.rejoin("p000000000003", "Host", Visitor(user_id=2), Role.HOST, True, 0.0)
    assert pretender.role is Role.PARTICIPANT
    host = meeting.rejoin("p000000000004", "Host", Visitor(user_id=1), Role.PARTICIPANT, False, 0.0)
    assert (host.role, host.state) == (Role.HOST, State.ADMITTED)
