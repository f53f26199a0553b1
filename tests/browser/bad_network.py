"""What the bad-network tests and the adaptation benchmark share: a meeting of a Chromium
publisher and one viewer (Chromium or Firefox) inside a namespace of the test's own, the ports of
each browser connection (to shape its link with tests/helpers/netlab.py), and a recorder that
runs in the viewer's page and writes down, every 25 ms, what it decodes and hears.

The recorder runs in the page, not in the test: a test that polled from Python would see a
freeze of the page's event loop, or of its own, as a freeze of the video. Chromium and Firefox
name these statistics alike, so one script serves both.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tests.helpers.waiting import wait_until


class Evaluates(Protocol):
    """A Playwright page or a tests/helpers/firefox.py page: both evaluate an expression."""

    async def evaluate(self, expression: str) -> Any: ...


# The local ports of one of the page's connections: every candidate it gathered, so that a
# switch to another candidate pair does not step around the shaping.
PORTS = """(async () => {
    const pc = window.mosaicRoom.media.%s;
    const ports = [];
    (await pc.getStats()).forEach((s) => {
        if (s.type === 'local-candidate' && s.port) ports.push(s.port);
    });
    return ports;
})()"""

# Samples of the subscribe connection: t (ms, page clock), frames decoded and the width of the
# last frame (the video inbound stream that carries most), audio packets received, and how many
# videos the server said it paused for this viewer (video_paused).
RECORDER = """(() => {
    if (window.lab) return true;
    const lab = window.lab = {samples: [], marks: {}};
    lab.mark = (name) => { lab.marks[name] = performance.now(); return lab.marks[name]; };
    let busy = false;
    lab.timer = setInterval(async () => {
        const pc = window.mosaicRoom && window.mosaicRoom.media.subscriber;
        if (!pc || busy) return;
        busy = true;
        try {
            let frames = 0, width = 0, best = -1, audio = 0;
            (await pc.getStats()).forEach((s) => {
                if (s.type !== 'inbound-rtp') return;
                if (s.kind === 'video') {
                    frames += s.framesDecoded || 0;
                    if ((s.packetsReceived || 0) > best) {
                        best = s.packetsReceived || 0;
                        width = s.frameWidth || 0;
                    }
                } else if (s.kind === 'audio') {
                    audio += s.packetsReceived || 0;
                }
            });
            const paused = window.mosaicRoom.pausedVideos ? window.mosaicRoom.pausedVideos.size : 0;
            lab.samples.push([performance.now(), frames, width, audio, paused]);
        } finally {
            busy = false;
        }
    }, 25);
    return true;
})()"""

PAUSED_MARK = """(() => {
    const note = document.querySelector('#stage .tile.video-paused:not(.self) .paused-note');
    return !!note && !note.hidden && note.textContent.length > 0;
})()"""

# The quality a page shows on someone's tile ("good", "fair", "poor"), found by their name;
# null while there is none. Its words are in the mark's label, for screen readers.
QUALITY_OF = """(() => {
    const tile = [...document.querySelectorAll('#stage .tile')]
        .find((t) => t.dataset.name === %r && t.dataset.source === 'camera');
    const mark = tile && tile.querySelector('.quality-mark[aria-label]');
    if (!mark) return null;
    return ['good', 'fair', 'poor'].find((q) => mark.classList.contains(`quality-${q}`));
})()"""

SENT_LAYERS = """(async () => {
    const found = {};
    (await window.mosaicRoom.media.publisher.getStats()).forEach((s) => {
        if (s.type === 'outbound-rtp' && s.kind === 'video' && s.rid) {
            found[s.rid] = s.frameWidth || 0;
        }
    });
    return found;
})()"""


@dataclass(frozen=True)
class Sample:
    t: float  # ms, the page's clock
    frames: int
    width: int
    audio_packets: int
    paused: int = 0  # videos the server says it paused for this viewer


async def connection_ports(page: Evaluates, which: str) -> list[int]:
    """Local ports of the page's ``subscriber`` or ``publisher`` connection."""
    return await wait_until(lambda: page.evaluate(PORTS % which), timeout=20)  # type: ignore[no-any-return]


async def start_recording(page: Evaluates) -> None:
    await page.evaluate(RECORDER)


async def mark(page: Evaluates, name: str) -> float:
    """Note now (page clock, ms) under ``name``; returned."""
    return float(await page.evaluate(f"window.lab.mark({name!r})"))


async def samples(page: Evaluates, since: float = 0.0) -> list[Sample]:
    rows = await page.evaluate(f"window.lab.samples.filter((s) => s[0] >= {since})")
    return [Sample(*row) for row in rows]


async def page_now(page: Evaluates) -> float:
    return float(await page.evaluate("performance.now()"))


async def layers_sent(publisher: Evaluates) -> dict[str, int]:
    """rid -> frame width of every simulcast layer the publisher sends now."""
    return await publisher.evaluate(SENT_LAYERS)  # type: ignore[no-any-return]


def fps(rows: list[Sample], start: float, end: float, width: int | None = None) -> float:
    """Frames decoded per second between two page times (of ``width`` only, if given)."""
    inside = [s for s in rows if start <= s.t <= end]
    if len(inside) < 2:
        return 0.0
    frames = sum(
        b.frames - a.frames
        for a, b in itertools.pairwise(inside)
        if width is None or b.width == width
    )
    return frames / ((inside[-1].t - inside[0].t) / 1000)


def longest_gap(rows: list[Sample], field: str) -> float:
    """The longest time (ms) in which ``frames`` or ``audio_packets`` did not grow."""
    gap = 0.0
    last_growth = rows[0].t if rows else 0.0
    for a, b in itertools.pairwise(rows):
        if getattr(b, field) > getattr(a, field):
            gap = max(gap, b.t - last_growth)
            last_growth = b.t
    if rows:
        gap = max(gap, rows[-1].t - last_growth)
    return gap


def first_steady(
    rows: list[Sample], width: int, fps_needed: float, window_ms: float
) -> float | None:
    """The page time at which frames of ``width`` started to come at ``fps_needed`` or more for
    ``window_ms``: when a viewer was really watching that layer, not one stray frame of it."""
    for i, start in enumerate(rows):
        if start.width != width:
            continue
        end = start.t + window_ms
        if rows[-1].t < end:
            return None
        if fps(rows[i:], start.t, end, width) >= fps_needed:
            return start.t
    return None


async def watch_for(page: Evaluates, seconds: float) -> list[Sample]:
    """Wait ``seconds`` and return what the recorder wrote meanwhile."""
    since = await page_now(page)
    await asyncio.sleep(seconds)
    return await samples(page, since)


async def watch_until(
    page: Evaluates, seconds: float, done: Callable[[list[Sample]], bool]
) -> list[Sample]:
    """What the recorder writes from now on, until ``done`` says the rows so far answer the
    question or ``seconds`` have passed: a watch as long as the answer needs, no longer."""
    since = await page_now(page)
    deadline = time.monotonic() + seconds
    while True:
        rows = await samples(page, since)
        if done(rows) or time.monotonic() >= deadline:
            return rows
        await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))


STEADY_MS = 1000


async def settled_on(page: Evaluates, width: int, timeout: float) -> float:
    """Wait until the page decodes ``width`` at 12 fps or more for a second, and return the
    seconds from the call to the start of that second: when the viewer was back on the layer
    (the second that follows proves it stayed). ``timeout`` bounds that start; the wait lasts
    the proving second longer."""
    since = await page_now(page)

    async def steady() -> tuple[float] | None:
        start = first_steady(await samples(page, since), width, 12, STEADY_MS)
        return None if start is None else ((start - since) / 1000,)

    (seconds,) = await wait_until(steady, timeout=timeout + STEADY_MS / 1000 + 0.5, interval=0.25)
    return seconds
