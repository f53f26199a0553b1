"""The event loop `mosaic serve` runs on: asyncio's own by default, uvloop on request.

uvloop does the loop's own work per datagram in C where asyncio's selector loop does it in
Python (`_run_once`, the selector's `select`, `_process_events`, a handle per ready socket,
the transport's `_read_ready`): with the forwarding path compiled, ``--event-loop uvloop``
forwards for 11-27 % less CPU per packet at 2 publishers and 2-12 % at 12 (two sets of
alternating runs: docs/performance.md, "The event loop").

It is not the default because of what it does when the process runs out of file
descriptors, which a flood of idle connections can make happen: libuv accepts and closes
the waiting connections without a word (its reserve-descriptor trick), so the operator's log
never says the table was full (`logs.ResourceErrors` reports asyncio's accept errors once a
minute; tests/security/test_floods.py checks it), and if that trick ever fails uvloop closes
the listening socket for good. Before it can be the default, Mosaic must watch its own file
table and its listeners. The media code uses only the loop's public API, and the tests of the
transports and of the compiled path run on both loops (tests/unit/rtc/conftest.py).

uvloop comes with ``uvicorn[standard]`` (a dependency) on every platform but Windows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

CHOICES = ("asyncio", "uvloop")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class LoopUnavailable(RuntimeError):
    """uvloop was asked for and is not installed."""


def loop_factory(choice: str) -> LoopFactory:
    """The factory of the loop ``choice`` (one of `CHOICES`) names."""
    if choice not in CHOICES:
        raise ValueError(f"not an event loop: {choice!r} (one of {', '.join(CHOICES)})")
    if choice == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        raise LoopUnavailable("uvloop is not installed (pip install uvloop)") from None
    return uvloop.new_event_loop  # type: ignore[no-any-return]


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """``uvloop`` or ``asyncio``: what a running server says it runs on."""
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
