"""A room's live state in Redis, written as it changes, read back by the meeting's next home.

The room (`mosaic.signaling.room`) tells its journal each change of the state that neither
the store nor the resume token holds (`mosaic.signaling.live_state` says what and why); this
module keeps it under the ``room_*`` keys of `keys`. Writes never make the room wait: each
journal queues its changes in order and one background task sends them, pipelined, in one
round trip per batch. If Redis is away, the journal drops what it cannot send and marks
itself stale; the worker then rewrites every room's state whole once Redis answers again
(`Recovery`), so that a Redis restarted empty holds the live state again within a second.

Every key of a room expires ``TTL_S`` after its last write: a meeting whose home died and
whose people never came back leaves nothing behind for long. A meeting that is over (ended,
or its last participant gone) is deleted at once (`RedisJournal.forget`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

# How long a room's live state outlives its last write: long after its people's resume
# tokens (5 minutes) are worth anything, so that only a meeting quiet for that long (no hand,
# no chat, nobody leaving for 12 hours) comes back after a failover without it (its people
# still come back with their roles: the tokens say those).
TTL_S = 12 * 3600
# Messages kept per room (the room keeps as many in memory: `live_state.CHAT_KEPT`).
CHAT_KEPT = 500

Op = Callable[[Any], None]  # adds commands to a pipeline
# After Redis comes back, how long no meeting is placed anew (`Recovery.settling`): every
# worker's watch (every 0.5 s) has noticed and re-asserted its meetings well within it.
SETTLE_S = 2.0


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _failed(error: BaseException) -> None:
    log.error("writing a room's live state failed", exc_info=error)


class RedisJournal:
    """One room's journal (`mosaic.signaling.live_state.Journal`) in Redis."""

    def __init__(self, link: RedisLink, meeting_id: str, tasks: TaskSet) -> None:
        self._link = link
        self.meeting_id = meeting_id
        self._tasks = tasks
        self._ops: list[Op] = []
        self._flushing = False
        # A write failed (Redis away): what Redis holds is behind; `rewrite` makes it whole.
        self.stale = False
        self.forgotten = False

    # -- the changes (each returns at once) ---------------------------------------------------

    def person(self, participant_id: str, state: dict[str, Any] | None) -> None:
        key = keys.room_people(self.meeting_id)
        if state is None:
            self._queue(lambda pipe: pipe.hdel(key, participant_id))
        else:
            value = _json(state)
            self._queue(lambda pipe: pipe.hset(key, participant_id, value))

    def departed(self, participant_id: str, kind: str) -> None:
        key = keys.room_departed(self.meeting_id)
        self._queue(lambda pipe: pipe.hset(key, participant_id, kind))

    def chat(self, message: dict[str, Any]) -> None:
        key, value = keys.room_chat(self.meeting_id), _json(message)

        def add(pipe: Any) -> None:
            pipe.rpush(key, value)
            pipe.ltrim(key, -CHAT_KEPT, -1)

        self._queue(add)

    def meeting(self, fields: dict[str, Any]) -> None:
        key = keys.room_meeting(self.meeting_id)
        mapping = {name: _json(value) for name, value in fields.items()}
        self._queue(lambda pipe: pipe.hset(key, mapping=mapping))

    def rewrite(self, state: dict[str, Any]) -> None:
        """Replace the room's keys by its whole state; what was queued before is in it."""
        self._ops.clear()
        self.stale = False
        mid = self.meeting_id

        def write(pipe: Any) -> None:
            pipe.delete(*keys.room_all(mid))
            people = {pid: _json(value) for pid, value in state.get("people", {}).items()}
            if people:
                pipe.hset(keys.room_people(mid), mapping=people)
            departed = dict(state.get("departed", {}))
            if departed:
                pipe.hset(keys.room_departed(mid), mapping=departed)
            chat = [_json(message) for message in state.get("chat", [])[-CHAT_KEPT:]]
            if chat:
                pipe.rpush(keys.room_chat(mid), *chat)
            pipe.hset(keys.room_meeting(mid), "spotlight", _json(state.get("spotlight", [])))

        self._queue(write)

    def forget(self) -> None:
        self.forgotten = True
        self._ops.clear()
        mid = self.meeting_id
        self._queue(lambda pipe: pipe.delete(*keys.room_all(mid)), force=True)

    # -- sending ------------------------------------------------------------------------------

    def _queue(self, op: Op, force: bool = False) -> None:
        if self.stale or (self.forgotten and not force):
            return  # the rewrite after Redis returns carries it
        self._ops.append(op)
        if not self._flushing:
            self._flushing = True
            self._tasks.spawn(self._flush())

    async def _flush(self) -> None:
        try:
            while self._ops:
                ops, self._ops = self._ops, []
                pipe = self._link.redis.pipeline(transaction=True)
                for op in ops:
                    op(pipe)
                if not self.forgotten:
                    for key in keys.room_all(self.meeting_id):
                        pipe.expire(key, TTL_S)
                try:
                    await self._link.call(pipe.execute())
                except ClusterUnavailable:
                    if not self.forgotten:
                        self.stale = True
                    self._ops.clear()
        finally:
            self._flushing = False


class RedisJournals:
    """Makes each room's journal and reads a room's state back
    (`mosaic.signaling.live_state.Journals`)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        self._tasks = TaskSet(on_error=_failed)

    def open(self, meeting_id: str) -> RedisJournal:
        return RedisJournal(self._link, meeting_id, self._tasks)

    async def load(self, meeting_id: str) -> dict[str, Any] | None:
        """The room's live state as its previous home left it, or None (nothing kept).
        Redis away: None too (the room starts without it; joins fail anyway without it)."""
        pipe = self._link.redis.pipeline(transaction=True)
        pipe.hgetall(keys.room_people(meeting_id))
        pipe.hgetall(keys.room_departed(meeting_id))
        pipe.lrange(keys.room_chat(meeting_id), 0, -1)
        pipe.hgetall(keys.room_meeting(meeting_id))
        try:
            people, departed, chat, meeting = await self._link.call(pipe.execute())
        except ClusterUnavailable:
            return None
        if not (people or departed or chat or meeting):
            return None
        spotlight = meeting.get(b"spotlight")
        return {
            "people": {pid.decode(): json.loads(value) for pid, value in people.items()},
            "departed": {pid.decode(): kind.decode() for pid, kind in departed.items()},
            "chat": [json.loads(message) for message in chat],
            "spotlight": json.loads(spotlight) if spotlight else [],
        }

    async def wait(self, timeout: float = 5.0) -> None:
        await self._tasks.wait(timeout=timeout)


class Recovery:
    """Notices Redis coming back (after being unreachable, or restarted: a new ``run_id``,
    so empty, as Redis runs without persistence) and calls ``on_return`` once each time, for
    the worker to re-assert its meetings and rewrite their live state.

    Until then, and for `SETTLE_S` after, this worker places no meeting anew (`settling`,
    the placement's hold): a join arriving as Redis returns, before the meeting's home
    re-asserted it, would otherwise give a running meeting a second home."""

    def __init__(
        self,
        link: RedisLink,
        on_return: Callable[[], Awaitable[None]],
        every_s: float = 0.5,
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        self._link = link
        self._on_return = on_return
        # Called on every tick Redis answered (a journal whose write failed in a blip too
        # short to be seen here is rewritten then).
        self._on_answer = on_answer
        self.every_s = every_s
        self._task: asyncio.Task[None] | None = None
        self._run_id: bytes | str | None = None
        self._away = False
        self._returned_at = -SETTLE_S
        self.returns = 0

    def settling(self) -> bool:
        """Whether Redis is away or came back too recently for meetings to be placed."""
        return self._away or time.monotonic() < self._returned_at + SETTLE_S

    async def start(self) -> None:
        self._run_id = await self._server_run_id()
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _server_run_id(self) -> bytes | str | None:
        try:
            info = await asyncio.wait_for(
                self._link.call(self._link.redis.info("server")), self.every_s * 4
            )
        except (ClusterUnavailable, TimeoutError):
            return None
        return info.get("run_id")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            run_id = await self._server_run_id()
            if run_id is None:
                self._away = True
                continue
            if self._on_answer is not None:
                self._on_answer()
            if self._away or run_id != self._run_id:
                self._run_id, self._returned_at = run_id, time.monotonic()
                self._away = False
                self.returns += 1
                log.info("Redis is back: re-asserting this worker's meetings and live state")
                try:
                    await self._on_return()
                except ClusterUnavailable:
                    self._away = True  # gone again: next time
                except Exception:
                    log.exception("re-asserting this worker's meetings failed")
