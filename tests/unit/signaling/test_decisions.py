"""Every client message is decided by the domain: the table, and proof that it is true.

`DECIDED_BY` says, for each message type of the protocol, which domain `Action`s decide
whether its sender may do it, or why no permission applies. The tests derive the message
types (from `protocol.ClientMessage`) and the handlers (from `commands.HANDLERS`) from the code,
so adding either without an entry here fails. Then each handler is run with the real
`permissions.may` watched: it must ask the actions of its entry (and no others) of its sender,
and refusing any one of them must refuse the request with a typed ``forbidden`` error.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mosaic.domain import permissions
from mosaic.domain.breakouts import LateJoiners, Mode
from mosaic.domain.meeting import LiveMeeting
from mosaic.domain.permissions import Action
from mosaic.domain.roster import Participant
from mosaic.signaling import protocol as p
from mosaic.signaling.commands import HANDLERS
from mosaic.signaling.protocol import ErrorCode, ProtocolError
from mosaic.signaling.room import Member
from mosaic.store.audit import Audit
from tests.helpers.signaling import Stage, open_audit, staged_room


@dataclass(frozen=True)
class NoPermission:
    """A message no domain action decides, and why that is right."""

    why: str


A = Action
DECIDED_BY: dict[str, frozenset[Action] | NoPermission] = {
    # Before there is a participant: the door decides, on the stored meeting.
    "join": NoPermission("any connection: the door decides (MeetingAccess.refusal_for)"),
    "resume": NoPermission("any connection: a server-signed token, then refusal_for"),
    "leave": NoPermission("any member, waiting or not: session.py hangs up"),
    "ping": NoPermission("any member, waiting or not: a keepalive that changes nothing"),
    # Media: one's own connections; each track is decided by its source (media_gate.py).
    "publish": frozenset({A.PUBLISH}),
    "answer": frozenset({A.RECEIVE_MEDIA}),
    "ice": frozenset({A.PUBLISH, A.RECEIVE_MEDIA}),  # by the connection it is for
    "restart": frozenset({A.RECEIVE_MEDIA}),
    # Turning one's own source off needs nothing; on, the source's action; a share while
    # someone else shares, the take-over.
    "media": frozenset(
        {A.PUBLISH_MICROPHONE, A.PUBLISH_CAMERA, A.SHARE_SCREEN, A.TAKE_OVER_SCREEN_SHARE}
    ),
    "view": frozenset({A.RECEIVE_MEDIA}),
    # The room.
    "chat": frozenset({A.CHAT}),
    "hand": frozenset({A.RAISE_HAND}),
    "react": frozenset({A.REACT}),
    "rename": frozenset({A.RENAME, A.RENAME_OTHER}),
    # End-to-end encryption: the server relays public keys and wrapped keys it cannot read.
    "e2ee.hello": frozenset({A.E2EE_HELLO}),
    "e2ee.key": frozenset({A.SEND_E2EE_KEY}),
    # Host controls.
    "admit": frozenset({A.SEE_WAITING_ROOM, A.ADMIT}),
    "deny": frozenset({A.SEE_WAITING_ROOM, A.DENY}),
    "remove": frozenset({A.REMOVE}),
    "mute": frozenset({A.MUTE, A.STOP_VIDEO, A.STOP_SCREEN_SHARE}),
    "mute_all": frozenset({A.MUTE_ALL}),
    "lower_hand": frozenset({A.LOWER_HAND}),
    "lock": frozenset({A.LOCK}),
    # Letting co-hosts record is the host's alone.
    "settings": frozenset({A.CHANGE_SETTINGS, A.LET_COHOSTS_RECORD}),
    "spotlight": frozenset({A.SPOTLIGHT}),
    "cohost": frozenset({A.ASSIGN_COHOST, A.REVOKE_COHOST}),
    "suspend": frozenset({A.SUSPEND_ACTIVITIES}),
    "end": frozenset({A.END_MEETING}),
    "report": frozenset({A.REPORT}),
    "audit_log": frozenset({A.SEE_AUDIT_LOG}),
    # Breakout rooms: hosts and co-hosts run them; a participant moves as the host allowed
    # (a host's or co-host's move is a visit).
    "breakouts.create": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.rename": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.assign": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.open": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.extend": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.close": frozenset({A.MANAGE_BREAKOUTS}),
    "breakouts.broadcast": frozenset({A.BROADCAST}),
    "breakouts.move": frozenset({A.VISIT_ROOM, A.CHOOSE_ROOM, A.RETURN_TO_MAIN}),
    "breakouts.help": frozenset({A.ASK_FOR_HELP}),
    "breakouts.cohost": frozenset({A.ASSIGN_COHOST}),
    "recording.start": frozenset({A.START_RECORDING}),
    "recording.stop": frozenset({A.STOP_RECORDING}),
}


def message_type(model: type[p.Request]) -> str:
    return str(model.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]


CLIENT_MESSAGES: list[type[p.Request]] = list(p.ClientMessage.__origin__.__args__)  # type: ignore[attr-defined]


def test_every_message_type_of_the_protocol_has_an_entry() -> None:
    types = {message_type(model) for model in CLIENT_MESSAGES}
    assert types == p.MESSAGE_TYPES
    assert sorted(types - DECIDED_BY.keys()) == [], "message types the table does not decide"
    assert sorted(DECIDED_BY.keys() - types) == [], "entries for messages that do not exist"


def test_every_handler_has_an_entry_and_only_the_session_handles_the_rest() -> None:
    handled = {message_type(kind) for kind in HANDLERS}
    assert sorted(handled - DECIDED_BY.keys()) == [], "handlers the table does not know"
    # What no handler serves is the session's own business (join, resume, leave), and those
    # are decided before a participant exists or need no permission.
    for kind in DECIDED_BY.keys() - handled:
        assert isinstance(DECIDED_BY[kind], NoPermission), kind
    for kind, decision in DECIDED_BY.items():
        if isinstance(decision, NoPermission):
            assert decision.why.startswith(("any connection", "any member")), kind
        else:
            assert decision, kind


# -- each handler asks what its entry says --------------------------------------------------


@dataclass
class Cast:
    host: Member
    cohost: Member
    guest: Member
    waiter: Member
    meeting: LiveMeeting


def _rooms(cast: Cast, *, opened: bool = False, mode: Mode = Mode.MANUAL) -> Cast:
    """Breakout rooms b1 and b2 set up straight in the domain (not a request: nothing is
    asked of `may`), the guest planned for b1; opened if asked."""
    breakouts = cast.meeting.breakouts
    breakouts.create(["Red", "Blue"], mode, [])
    breakouts.assign({cast.guest.id: "b1"})
    if opened:
        breakouts.open(0.0, None, True, LateJoiners.HOST)
    return cast


# For each handled message: who sends it and what it says, chosen so that it is allowed and
# goes through every check of its handler.
Sample = tuple[str, Callable[[Cast], dict[str, Any]]]
SAMPLES: dict[str, Sample] = {
    "ping": ("waiter", lambda c: {}),
    "publish": ("guest", lambda c: {"sdp": "v=0\r\n", "sources": {"0": "microphone"}}),
    "answer": ("guest", lambda c: {"sdp": "v=0\r\n"}),
    "ice": ("guest", lambda c: {"pc": "publish", "candidate": None}),
    "restart": ("guest", lambda c: {"pc": "subscribe"}),
    "media": ("guest", lambda c: {"source": "camera", "on": True}),
    "view": ("guest", lambda c: {"videos": [{"participant": c.host.id, "width": 1, "height": 1}]}),
    "chat": ("guest", lambda c: {"text": "hello", "to": c.cohost.id}),
    "hand": ("guest", lambda c: {"raised": True}),
    "react": ("guest", lambda c: {"emoji": "👍"}),
    "e2ee.hello": ("guest", lambda c: {"public_key": E2EE_PUBLIC_KEY} | _kw(_e2ee(c))),
    "e2ee.key": (
        "guest",
        lambda c: {"to": _e2ee(c).host.id, "epoch": 1, "blob": "A" * 64},
    ),
    "rename": ("cohost", lambda c: {"name": "Someone", "participant": c.guest.id}),
    "admit": ("cohost", lambda c: {"participants": [c.waiter.id]}),
    "deny": ("cohost", lambda c: {"participants": [c.waiter.id]}),
    "remove": ("cohost", lambda c: {"participant": c.guest.id}),
    "mute": ("cohost", lambda c: {"participant": c.guest.id, "source": "camera"}),
    "mute_all": ("cohost", lambda c: {}),
    "lower_hand": ("cohost", lambda c: {"participant": c.guest.id}),
    "lock": ("cohost", lambda c: {"locked": True}),
    "settings": ("cohost", lambda c: {"settings": {"participants_may_chat": False}}),
    "spotlight": ("cohost", lambda c: {"participants": [c.guest.id]}),
    "cohost": ("host", lambda c: {"participant": c.cohost.id, "cohost": False}),
    "suspend": ("cohost", lambda c: {}),
    "end": ("host", lambda c: {}),
    "report": ("cohost", lambda c: {"participant": c.guest.id, "reason": "spam"}),
    "audit_log": ("cohost", lambda c: {}),
    "breakouts.create": ("cohost", lambda c: {"rooms": [{"name": "Red"}], "mode": "balanced"}),
    "breakouts.rename": ("cohost", lambda c: {"room_id": "b1", "name": "Green"} | _kw(_rooms(c))),
    "breakouts.assign": ("cohost", lambda c: {"assignments": {_rooms(c).guest.id: "b2"}}),
    "breakouts.open": ("cohost", lambda c: {"minutes": 10} | _kw(_rooms(c))),
    "breakouts.extend": ("cohost", lambda c: {"minutes": 5} | _kw(_rooms(c, opened=True))),
    "breakouts.close": ("cohost", lambda c: _kw(_rooms(c, opened=True))),
    "breakouts.broadcast": (
        "cohost",
        lambda c: {"text": "Two minutes"} | _kw(_rooms(c, opened=True)),
    ),
    "breakouts.move": (
        "guest",
        lambda c: {"room_id": "b2"} | _kw(_rooms(c, opened=True, mode=Mode.CHOOSE)),
    ),
    "breakouts.help": ("guest", lambda c: _kw(_rooms(c, opened=True))),
    "breakouts.cohost": ("host", lambda c: {"participant": _rooms(c).guest.id, "room_id": "b1"}),
    "recording.start": ("host", lambda c: {}),
    "recording.stop": ("host", lambda c: {}),
}
HANDLED = sorted(message_type(kind) for kind in HANDLERS)


def test_every_handler_has_a_sample() -> None:
    assert sorted(SAMPLES) == HANDLED


class WatchedMay:
    """The real `permissions.may`, watched: records what is asked of one participant (the
    sender) and can refuse one action to them. Installed wherever a module of ours bound
    the name `may`, so that no caller escapes it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sender: str | None = None
        self.task: asyncio.Task[Any] | None = None
        self.refused: Action | None = None
        self.asked: list[Action] = []
        real = permissions.may

        def may(
            actor: Participant, action: Action, meeting: Any, target: Participant | None = None
        ) -> bool:
            # Only the handler's own questions: not those of a batched roster flush that
            # happens to run while the handler awaits (a loop callback, outside the task).
            if actor.id == self.sender and asyncio.current_task() is self.task:
                self.asked.append(action)
                if action is self.refused:
                    return False
            return real(actor, action, meeting, target)

        for name, module in list(sys.modules.items()):
            if name.startswith("mosaic.") and getattr(module, "may", None) is real:
                monkeypatch.setattr(module, "may", may)


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[Audit]:
    db, store = await open_audit(tmp_path)
    yield store
    await db.close()


async def run_sample(
    kind: str, tmp_path: Path, audit: Audit, watch: WatchedMay, refuse: Action | None = None
) -> tuple[dict[str, Any] | ProtocolError, list[Action]]:
    async with staged_room(tmp_path, audit=audit) as stage:
        cast = await _cast(stage)
        who, build = SAMPLES[kind]
        sender: Member = getattr(cast, who)
        watch.sender, watch.refused, watch.asked = sender.id, refuse, []
        watch.task = asyncio.current_task()
        try:
            outcome: dict[str, Any] | ProtocolError = await stage.send(sender, kind, **build(cast))
        except ProtocolError as error:
            outcome = error
        asked = list(watch.asked)
        watch.sender = None
        return outcome, asked


async def _cast(stage: Stage) -> Cast:
    host = stage.host()
    cohost = await stage.cohost("Cohost")
    guest = await stage.guest("Guest")
    waiter = stage.enter("Waiter")
    return Cast(host, cohost, guest, waiter, stage.meeting)


def _e2ee(cast: Cast) -> Cast:
    """The meeting end-to-end encrypted, the host with a published key (set straight in the
    domain: nothing is asked of `may`)."""
    cast.meeting.settings = cast.meeting.settings.model_copy(update={"e2ee": True})
    cast.host.participant.e2ee_key = E2EE_PUBLIC_KEY
    return cast


E2EE_PUBLIC_KEY = "B" + "A" * 86


def _kw(cast: Cast) -> dict[str, Any]:
    """No fields: for samples whose set-up (`_rooms`) is all they need."""
    return {}


@pytest.mark.parametrize("kind", HANDLED)
async def test_each_handler_asks_the_domain_what_its_entry_says(
    kind: str, tmp_path: Path, audit: Audit, monkeypatch: pytest.MonkeyPatch
) -> None:
    watch = WatchedMay(monkeypatch)
    outcome, asked = await run_sample(kind, tmp_path, audit, watch)
    assert not isinstance(outcome, ProtocolError), outcome.frame()
    decision = DECIDED_BY[kind]
    if isinstance(decision, NoPermission):
        assert asked == [], f"{kind} asks {asked} but its entry says no permission"
        return
    assert asked, f"{kind} asks the domain nothing"
    assert set(asked) <= decision, f"{kind} asks {set(asked) - decision}, not in its entry"
    # Refusing any one of them refuses the request, with the typed error and no change.
    for action in sorted(set(asked)):
        refused, _ = await run_sample(kind, tmp_path, audit, watch, refuse=action)
        assert isinstance(refused, ProtocolError), f"{kind} goes on without {action}"
        assert refused.code is ErrorCode.FORBIDDEN, (kind, action, refused.frame())
