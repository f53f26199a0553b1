"""The bus between workers: one Redis pub/sub channel per worker, JSON messages with a "kind".

Why pub/sub and not streams or lists: a message is for a worker that is alive *now* (a
relayed signaling frame, "this meeting changed"); one that no one hears is worth nothing
later, and a dead worker's channel must not fill up. Pub/sub also makes a worker's life
visible for free: its subscription vanishes with its process (`PUBSUB NUMSUB`, the
registry's liveness check).

Order: one worker's messages to another arrive in the order it published them (one
subscription, one Redis connection reading it), and handlers that are plain functions run
in that order, one at a time, on the reading task. A handler that must wait (a store read)
is a coroutine function: it runs as a task of its own, so one slow handler never holds up
the frames behind it, and whatever must stay in order is done synchronously before it
awaits anything.

When Redis goes away the reader retries (every `RETRY_S`) and subscribes again as soon as
Redis answers; messages published meanwhile are lost, as pub/sub messages to an absent
subscriber always are.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mosaic.cluster import keys
from mosaic.cluster.link import ClusterUnavailable, RedisLink
from mosaic.tasks import TaskSet

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[None] | None]

# How often a reader that lost Redis tries to subscribe again.
RETRY_S = 0.2


def _handler_failed(error: BaseException) -> None:
    log.error("a bus handler failed", exc_info=error)


class Bus:
    """This worker's channel (read) and every other worker's (written)."""

    def __init__(self, link: RedisLink, worker_id: str) -> None:
        self._link = link
        self.worker_id = worker_id
        self.channel = keys.bus(worker_id)
        self._handlers: dict[str, Handler] = {}
        self._reader: asyncio.Task[None] | None = None
        self._tasks = TaskSet(on_error=_handler_failed)
        # Set while this worker's subscription is in place (tests and the drain wait on it).
        self.subscribed = asyncio.Event()
        # Called after a subscription made again once Redis came back (not the first one).
        self._on_resubscribed: list[Callable[[], Awaitable[None] | None]] = []
        self.received = 0
        self.sent = 0

    def on(self, kind: str, handler: Handler) -> None:
        """Hear messages of one kind (one handler per kind: the last one set wins)."""
        self._handlers[kind] = handler

    def on_resubscribed(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        """Be told when the subscription is back after Redis was away (re-announce, reassert)."""
        self._on_resubscribed.append(callback)

    async def start(self, timeout_s: float = 5.0) -> None:
        """Subscribe, and read on a task of its own. Returns once subscribed, so that the
        registry's liveness check sees this worker from its first heartbeat on; raises
        `ClusterUnavailable` if Redis does not answer within ``timeout_s``."""
        self._reader = asyncio.create_task(self._read_forever(), name=f"bus {self.worker_id}")
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout_s)
        except TimeoutError:
            await self.stop()
            raise ClusterUnavailable(f"could not subscribe to {self.channel}") from None

    async def send(self, worker_id: str, message: dict[str, Any]) -> int:
        """Publish one message to a worker's channel. ``message["kind"]`` says what it is;
        ``from`` (this worker) is added. Raises `ClusterUnavailable` when Redis is down.
        Returns how many subscriptions heard it (0: the worker is not subscribed now, and
        the message is lost; the registry says whether it is alive)."""
        if "kind" not in message:
            raise ValueError("a bus message needs a kind")
        message.setdefault("from", self.worker_id)
        data = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        heard = await self._link.call(self._link.redis.publish(keys.bus(worker_id), data))
        self.sent += 1
        return int(heard)

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        self._tasks.cancel()
        await self._tasks.wait(timeout=1.0)
        self.subscribed.clear()

    async def _read_forever(self) -> None:
        first = True
        while True:
            pubsub = self._link.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "message":
                        self._dispatch(message["data"])
                    elif message["type"] == "subscribe":
                        # Redis confirmed the subscription (the client may also have made
                        # it again on its own after a reconnection: the same news).
                        self.subscribed.set()
                        if not first:
                            log.info("bus: subscribed to %s again", self.channel)
                            for callback in self._on_resubscribed:
                                self._run(callback())
                        first = False
            except (RedisConnectionError, RedisTimeoutError, OSError) as error:
                if self.subscribed.is_set():
                    log.warning("bus: lost Redis (%s); subscribing again when it returns", error)
                self.subscribed.clear()
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(pubsub.aclose())
            await asyncio.sleep(RETRY_S)

    def _dispatch(self, data: bytes | str) -> None:
        self.received += 1
        try:
            message = json.loads(data)
            handler = self._handlers.get(message["kind"])
        except (ValueError, KeyError, TypeError):
            log.warning("bus: a message that is not one was ignored")
            return
        if handler is None:
            log.debug("bus: no handler for %r", message["kind"])
            return
        try:
            self._run(handler(message))
        except Exception:
            log.exception("bus: the %r handler failed", message["kind"])

    def _run(self, result: Awaitable[None] | None) -> None:
        if inspect.isawaitable(result):
            self._tasks.spawn(result)
