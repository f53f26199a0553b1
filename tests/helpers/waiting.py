"""Waiting for something a test cannot be told about, only watch for."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    condition: Callable[[], Awaitable[T]], timeout: float = 20.0, interval: float = 0.25
) -> T:
    """Poll an async ``condition`` until it returns something true, and return that.

    Browser statistics and page state change on their own schedule (encoders warm up, ICE
    checks, renegotiations): a test polls rather than sleeps a guessed time, and the error
    names the last value seen so a failure says how far it got."""
    deadline = time.monotonic() + timeout
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last: {result!r}")
        await asyncio.sleep(interval)
