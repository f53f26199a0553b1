"""The background task set: a task is held until it ends, then forgotten; failures are
reported, cancellations are not; the rest can be awaited or cancelled at the end."""

from __future__ import annotations

import asyncio
import gc

from mosaic.tasks import TaskSet


async def test_a_task_nobody_else_holds_runs_to_its_end_and_is_then_forgotten() -> None:
    tasks = TaskSet()
    finished = asyncio.Event()

    async def work() -> None:
        await asyncio.sleep(0.01)
        gc.collect()  # a task held only by the event loop's weak reference could go here
        finished.set()

    tasks.spawn(work())
    assert len(tasks) == 1
    await asyncio.wait_for(finished.wait(), 1)
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_a_failure_is_reported_and_a_cancellation_is_not() -> None:
    errors: list[BaseException] = []
    tasks = TaskSet(on_error=errors.append)

    async def fail() -> None:
        raise ValueError("broken")

    tasks.spawn(fail())
    tasks.spawn(asyncio.sleep(10))
    await asyncio.sleep(0.01)
    tasks.cancel()
    await tasks.wait(1)
    assert [type(error) for error in errors] == [ValueError]
    assert len(tasks) == 0


async def test_waiting_stops_at_the_timeout_and_cancels_nothing() -> None:
    tasks = TaskSet()
    slow = tasks.spawn(asyncio.sleep(10))
    await tasks.wait(0.01)
    assert not slow.done()
    tasks.cancel()
    await asyncio.sleep(0)
    assert slow.cancelled()


async def test_a_task_of_the_set_that_waits_for_the_set_does_not_wait_for_itself() -> None:
    """A room closes itself from one of its own background tasks (the host ended the
    meeting): waiting for the rest must not wait out the timeout for that very task, and
    cancelling the rest must not cancel it."""
    tasks = TaskSet()
    other_done = asyncio.Event()

    async def other() -> None:
        await asyncio.sleep(0.01)
        other_done.set()

    async def closing() -> str:
        await tasks.wait(timeout=5.0)
        tasks.cancel()
        return "closed"

    tasks.spawn(other())
    closer = tasks.spawn(closing())
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(closer, 2.0) == "closed"  # not cancelled by its own cancel()
    assert other_done.is_set()  # the others were waited for
    assert asyncio.get_running_loop().time() - started < 1.0
