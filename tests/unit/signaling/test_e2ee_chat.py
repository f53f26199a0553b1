"""An end-to-end encrypted meeting's chat is relayed and kept nowhere: not in the room's
memory given back to a participant who returns, not in its live-state journal (Redis in a
cluster), not in the chat record, even with ``record_chat`` on (docs/e2ee.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mosaic.signaling.live_state import NoJournal
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
