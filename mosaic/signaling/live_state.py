"""A room's live state that neither the store nor the resume token holds, kept where it
outlives the room's worker.

What a participant needs to find again after its meeting's home worker died: the store holds
the entry state (settings changed in the meeting, the lock, bans, the suspension's settings),
the signed resume token holds who each one is (name, role, admitted or waiting). What is left
lives only in the room: raised hands and their order, the sources a host turned off (a
suspension, a mute), the spotlight, who left or was turned away for good (so that their
still-valid tokens open nothing), and the chat. The room tells its `Journal` each change as it
happens; in cluster mode the journal writes it to Redis (`mosaic.cluster.journal`), and a room
opened on a new home reads it back (`Journals.load`). On a single process there is nothing to
outlive: `NoJournals`, and the room's own memory (its chat, for a participant resuming after a
dropped connection) is all there is.

The state travels as plain JSON-shaped dicts (``LiveState``), so that the Redis side knows
nothing of rooms:
``{"people": {pid: {"hand": float | None, "blocked": [source, ...]}},
"departed": {pid: "left" | "denied" | "removed"}, "spotlight": [pid, ...],
"chat": [message, ...]}``, each chat message as sent (``id``, ``from``, ``name``, ``to``,
``text``, ``at``) plus its ``audience`` (the participant ids it was sent to), so that a
participant put back is given back exactly what it could see.
"""

from __future__ import annotations

from typing import Any, Protocol

# Chat messages a room keeps (and gives back to a participant who returns): the last ones.
CHAT_KEPT = 500

LiveState = dict[str, Any]


class Journal(Protocol):
    """Where one room writes its live state as it changes; every method returns at once
    (the writing happens in the background, and a write that fails leaves the journal to be
    rewritten whole by `rewrite` once its store is back)."""

    def person(self, participant_id: str, state: dict[str, Any] | None) -> None:
        """A participant's hand or turned-off sources changed (None: forget them)."""

    def departed(self, participant_id: str, kind: str) -> None:
        """A participant left for good (``left``, ``denied``, ``removed``)."""

    def chat(self, message: dict[str, Any]) -> None:
        """A chat message was sent (with its ``audience``)."""

    def meeting(self, fields: dict[str, Any]) -> None:
        """Meeting-wide live state changed (``spotlight``)."""

    def rewrite(self, state: LiveState) -> None:
        """Replace what is kept by the room's whole state (its store came back empty)."""

    def forget(self) -> None:
        """The meeting is over (ended, or its last participant gone): delete it all."""


class Journals(Protocol):
    """Makes each room's journal, and reads a room's state back on a new home."""

    def open(self, meeting_id: str) -> Journal: ...

    async def load(self, meeting_id: str) -> LiveState | None: ...


class NoJournal:
    """A single process keeps nothing outside its rooms."""

    def person(self, participant_id: str, state: dict[str, Any] | None) -> None:
        pass

    def departed(self, participant_id: str, kind: str) -> None:
        pass

    def chat(self, message: dict[str, Any]) -> None:
        pass

    def meeting(self, fields: dict[str, Any]) -> None:
        pass

    def rewrite(self, state: LiveState) -> None:
        pass

    def forget(self) -> None:
        pass


class NoJournals:
    def open(self, meeting_id: str) -> Journal:
        return NoJournal()

    async def load(self, meeting_id: str) -> LiveState | None:
        return None


def visible_chat(chat: list[dict[str, Any]], participant_id: str) -> list[dict[str, Any]]:
    """The kept messages this participant was sent, as it received them (no audience)."""
    return [
        {k: v for k, v in message.items() if k != "audience"}
        for message in chat
        if participant_id in message.get("audience", ())
    ]
