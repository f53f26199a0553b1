"""The event loop `mosaic serve` runs on: uvloop where it is installed, asyncio's own otherwise.

Why uvloop: once the forwarding path's per-packet work was compiled (`mosaic.rtc.fastpath`),
the loop's own work per datagram became a large part of what a received packet costs.
asyncio's selector loop does it in Python (`_run_once`, the selector's `select`,
`_process_events`, a handle per ready socket, the transport's `_read_ready`); uvloop does it
in C. docs/performance.md ("The event loop: uvloop") has the figures. The media code uses
only the loop's public API, and the tests of the transports and the compiled path run on
both loops (tests/unit/rtc/conftest.py), so ``--event-loop asyncio`` stays a true
alternative: the way to rule the loop out when something looks wrong.

uvloop comes with ``uvicorn[standard]`` (a dependency) everywhere it is built, which is every
platform but Windows; ``auto`` falls back to asyncio's loop there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

CHOICES = ("auto", "uvloop", "asyncio")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopUnavailable(RuntimeError):
    """``uvloop`` was asked for by name and is not installed."""


def loop_factory(choice: str) -> LoopFactory:
    """The factory of the loop ``choice`` (one of `CHOICES`) names."""
    if choice not in CHOICES:
        raise ValueError(f"not an event loop: {choice!r} (one of {', '.join(CHOICES)})")
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise LoopUnavailable("uvloop is not installed (pip install uvloop)") from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what a running server says it runs on."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
