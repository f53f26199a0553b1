"""Benchmark 2: from the join request to the first decoded remote video frame.

One bot publishes the replayed clip in a Mosaic meeting. Newcomers join one after another
and leave once they have decoded a frame of it:

- a Python client (`mosaic.client.join` with decoding on): from the call that joins (socket
  opened, ``join`` sent) to the first frame aiortc's decoder returns;
- a Chromium page (the real web client, fake camera): from the click on Join to the first
  ``framesDecoded`` of an inbound video in ``getStats()``, both read in the page's clock.

Each path includes the join, the subscribe offer and answer, ICE, DTLS and a keyframe (the
publisher is asked for one, or the server resends the one it cached).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.meetings import MosaicMeeting, open_meeting
from bench.plan import Plan
from bench.servers import MosaicProcess
from bench.stats import percentile, rounded
from mosaic.bots.base import MediaMode
from mosaic.bots.chromium import CHROMIUM_ARGS
from mosaic.bots.mosaic_bot import MosaicBot

# In the page: note when Join is clicked, keep every peer connection, and from the click on
# poll their statistics every 10 ms until an inbound video has decoded a frame.
PAGE_PROBE = """
(() => {
  const probe = window.__bench = {clickAt: null, firstFrameAt: null};
  const connections = [];
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    connections.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  async function poll() {
    for (const pc of connections) {
      const stats = await pc.getStats();
      for (const s of stats.values()) {
        if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > 0) {
          probe.firstFrameAt = performance.now();
          return;
        }
      }
    }
    setTimeout(poll, 10);
  }
  document.addEventListener("click", (event) => {
    if (probe.clickAt === null && event.target.closest && event.target.closest("#join")) {
      probe.clickAt = performance.now();
      poll();
    }
  }, true);
})();
"""


async def python_trial(meeting: MosaicMeeting, env: Environment, index: int) -> float | None:
    return await first_frame_after_join(meeting.join_url, meeting.cookies, env, f"viewer{index}")


async def first_frame_after_join(
    url: str, cookies: dict[str, str], env: Environment, name: str
) -> float | None:
    """Seconds from a Python viewer's start (join, negotiation) to its first decoded frame;
    None if none came within 15 s."""
    viewer = MosaicBot(
        url,
        name,
        cookies=cookies,
        mode=MediaMode.NONE,
        decode=True,
        local_addresses=[env.media_address],
    )
    started = time.monotonic()
    try:
        await viewer.start()
        await asyncio.wait_for(viewer.first_frame.wait(), 15)
        assert viewer.first_frame_at is not None
        return viewer.first_frame_at - started
    except TimeoutError:
        return None
    finally:
        await viewer.stop()


async def browser_trials(meeting: MosaicMeeting, env: Environment, trials: int) -> list[float]:
    from playwright.async_api import async_playwright

    assert env.chromium is not None
    found: list[float] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=env.chromium, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for index in range(trials):
                context = await browser.new_context(
                    viewport={"width": 1280, "height": 800},
                    permissions=["camera", "microphone"],
                )
                try:
                    await context.add_init_script(
                        "localStorage.setItem('mosaic.videoQuality', 'standard')"
                    )
                    await context.add_init_script(PAGE_PROBE)
                    page = await context.new_page()
                    await page.goto(meeting.join_url)
                    await page.fill("#name", f"Browser {index}")
                    await page.click("#join")
                    probe = await _first_frame(page)
                    found.append((probe["firstFrameAt"] - probe["clickAt"]) / 1000)
                except Exception as exc:
                    print(f"    browser trial {index} failed: {exc}", flush=True)
                finally:
                    await context.close()
                await asyncio.sleep(0.5)
        finally:
            await browser.close()
    return found


async def _first_frame(page: Any, timeout: float = 20.0) -> dict[str, float]:
    """The probe once it saw a frame (polled from here: the page's CSP forbids the
    ``eval`` that Playwright's ``wait_for_function`` needs)."""
    async with asyncio.timeout(timeout):
        while True:
            probe = await page.evaluate("window.__bench")
            if probe["firstFrameAt"] is not None:
                return probe  # type: ignore[no-any-return]
            await asyncio.sleep(0.02)


def _summary(samples: list[float], trials: int) -> dict[str, Any]:
    return {
        "trials": trials,
        "succeeded": len(samples),
        "p50_ms": rounded(_ms(percentile(samples, 0.5)), 1),
        "p95_ms": rounded(_ms(percentile(samples, 0.95)), 1),
        "min_ms": rounded(_ms(min(samples, default=None)), 1),
        "max_ms": rounded(_ms(max(samples, default=None)), 1),
        "samples_ms": [round(s * 1000, 1) for s in samples],
    }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        server = MosaicProcess(Path(data_dir), env.media_address).start()
        publisher: MosaicBot | None = None
        try:
            meeting = await open_meeting(server.url)
            publisher = MosaicBot(
                meeting.join_url, "publisher", cookies=meeting.cookies,
                local_addresses=[env.media_address],
            )  # fmt: skip
            await publisher.start()
            await asyncio.sleep(1.0)
            print("  join latency: Python client ...", flush=True)
            python = []
            for index in range(plan.python_trials):
                sample = await python_trial(meeting, env, index)
                if sample is not None:
                    python.append(sample)
                await asyncio.sleep(0.3)
            result: dict[str, Any] = {"python": _summary(python, plan.python_trials)}
            if env.chromium is None or plan.browser_trials == 0:
                result["browser"] = {"skipped": "chromium is not installed"}
            else:
                print("  join latency: Chromium page ...", flush=True)
                browser = await browser_trials(meeting, env, plan.browser_trials)
                result["browser"] = _summary(browser, plan.browser_trials)
            return result
        finally:
            if publisher is not None:
                await publisher.stop()
            server.stop()
