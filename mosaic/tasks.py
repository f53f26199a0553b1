"""Work started in the background and not awaited, kept alive until it ends.

asyncio holds only a weak reference to a task (see `asyncio.create_task`): a task nobody else
holds may be garbage-collected before it finishes. Everything in Mosaic that starts work it
does not await (a room's audit writes, the mailer's letters, the media router's negotiations,
the client's connection replacements, the bots' subscriptions) keeps it in a `TaskSet`, which
forgets each task as it ends, can report its failure, and cancels or awaits the rest at the
end. Standard library only: the server, the client and the bots all use it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class TaskSet:
    """Background tasks, each kept until it is done.

    ``on_error`` hears the exception of each task that fails (not of one cancelled); without
    it a failure is left to asyncio, which reports it when the task is collected."""

    def __init__(self, on_error: Callable[[BaseException], None] | None = None) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()
        self._on_error = on_error

    def spawn(self, awaitable: Awaitable[T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(awaitable)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if self._on_error is not None and not task.cancelled():
            error = task.exception()
            if error is not None:
                self._on_error(error)

    def cancel(self) -> None:
        """Cancel every task still running, but the one calling: a task of the set that ends
        the set's work (a room closing itself in the background) must not cancel itself."""
        current = _current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()

    async def wait(self, timeout: float | None = None) -> None:
        """Let the running tasks finish, for ``timeout`` seconds at most (None: however long
        they take); their exceptions are not raised here, and none is cancelled. The calling
        task is not waited for when it is one of the set: it would wait for itself until the
        timeout (a meeting ended by its host closed its room in the background, and that
        close waited its full 5 s for itself)."""
        current = _current_task()
        others = [task for task in self._tasks if task is not current]
        if others:
            await asyncio.wait(others, timeout=timeout)

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[asyncio.Future[Any]]:
        return iter(list(self._tasks))


def _current_task() -> asyncio.Future[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop: the caller is no task of any set
        return None
