"""The devices a meeting has admitted, written to the store in batches.

After a removal, a guest whose device the meeting never admitted waits for the host
(`MeetingAccess.must_wait`). Admissions are noted here at once in the live meeting, and
written by one background writer per room: a join storm costs one write per batch, not one
per person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from mosaic.store.meetings import Meetings


class DeviceLog:
    def __init__(
        self,
        meeting_id: str,
        known: set[str],
        meetings: Meetings | None,
        spawn: Callable[[Awaitable[None]], None],
    ) -> None:
        self._meeting_id = meeting_id
        self._known = known  # the live meeting's own set: the door reads it
        self._meetings = meetings
        self._spawn = spawn
        self._pending: list[str] = []
        self._writing = False

    def admitted(self, device: str) -> None:
        if device in self._known:
            return
        self._known.add(device)
        if self._meetings is None:
            return
        self._pending.append(device)
        self.flush()

    def flush(self) -> None:
        """Start the writer if devices wait and none runs (a closing room calls this too)."""
        if self._pending and not self._writing and self._meetings is not None:
            self._writing = True
            self._spawn(self._write())

    async def _write(self) -> None:
        assert self._meetings is not None
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                await self._meetings.remember_devices(self._meeting_id, batch)
        finally:
            self._writing = False
