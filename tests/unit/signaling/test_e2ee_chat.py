"""An end-to-end encrypted meeting's chat is relayed and kept nowhere: not in the room's
memory given back to a participant who returns, not in its live-state journal (Redis in a
cluster), not in the chat record, even with ``record_chat`` on (docs/e2ee.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mosaic.signaling.live_state import NoJournal
from mosaic.signaling.protocol import ProtocolError
from tests.helpers.signaling import staged_room

CIPHERTEXT = "e2ee:" + "A" * 60


class WatchedJournal(NoJournal):
    def __init__(self) -> None:
        self.chats: list[dict[str, Any]] = []

    def chat(self, message: dict[str, Any]) -> None:
        self.chats.append(message)


async def test_encrypted_chat_reaches_its_audience_and_is_kept_nowhere(tmp_path: Path) -> None:
    async with staged_room(tmp_path, waiting_room=False, e2ee=True, record_chat=True) as stage:
        journal = WatchedJournal()
        stage.room.journal = journal
        host = stage.host()
        guest = await stage.guest("Guest")
        await stage.send(guest, "chat", text=CIPHERTEXT)
        await stage.settle()
        assert [f["text"] for f in stage.inbox(host).of("chat")] == [CIPHERTEXT]
        assert list(stage.room.chat) == [] and journal.chats == []
        assert await stage.audit.chat_messages(stage.meeting.id) == []


async def test_plain_chat_is_kept_as_the_host_asked(tmp_path: Path) -> None:
    """The same path, unencrypted: what the test above would see kept."""
    async with staged_room(tmp_path, waiting_room=False, record_chat=True) as stage:
        journal = WatchedJournal()
        stage.room.journal = journal
        stage.host()
        guest = await stage.guest("Guest")
        await stage.send(guest, "chat", text="hello")
        await stage.settle()
        assert len(stage.room.chat) == 1 and len(journal.chats) == 1
        assert len(await stage.audit.chat_messages(stage.meeting.id)) == 1


async def test_an_encrypted_meetings_word_to_the_breakout_rooms_is_ciphertext_only(
    tmp_path: Path,
) -> None:
    """A host's broadcast to the rooms is chat too: in clear it is refused (the server would
    read it), as ciphertext it reaches everyone as it was sent."""
    async with staged_room(tmp_path, waiting_room=False, e2ee=True) as stage:
        host = stage.host()
        guest = await stage.guest("Guest")
        await stage.send(host, "breakouts.create", rooms=[{"name": "Red"}], mode="balanced")
        await stage.send(host, "breakouts.open", minutes=10, allow_return=True)
        with pytest.raises(ProtocolError) as refused:
            await stage.send(host, "breakouts.broadcast", text="Five minutes left")
        assert refused.value.code == "forbidden"
        await stage.send(host, "breakouts.broadcast", text=CIPHERTEXT)
        await stage.settle()
        assert [b["text"] for b in stage.inbox(guest).of("broadcast")] == [CIPHERTEXT]
