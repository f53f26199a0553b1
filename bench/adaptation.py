"""Benchmark 4: how fast a viewer's video adapts to a squeezed downlink, and recovers.

A Chromium publisher (the web client's three simulcast layers of 720p) and a Chromium viewer in
a 1280x800 window whose tile of it (beside its own) wants the 640x360 layer. Each trial, once
the viewer plays that layer, its downlink (the ports of its subscribe connection) is shaped
to 200 kbit/s with the same lab as the tests (tests/helpers/netlab.py: tc HTB in the
benchmark's own namespace), then restored:

- *time to adapt*: from the squeeze to the first frame of a lower layer decoded by the viewer;
- *time to recover*: from the restore to the first frame of the wanted layer again.

Both read in the page's clock by the recorder of tests/browser/bad_network.py (every 25 ms:
frames decoded and the width of the last one), so they include the server's estimate, its
switch, the keyframe and the decoder; the recorder's period bounds the resolution.
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.environment import Environment
from bench.meetings import open_meeting
from bench.plan import Plan
from bench.servers import MosaicProcess
from bench.stats import percentile, rounded
from mosaic.bots.chromium import CHROMIUM_ARGS
from tests.browser import bad_network as lab
from tests.helpers.netlab import NetLab

STANDARD = "localStorage.setItem('mosaic.videoQuality', 'standard')"
NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
SQUEEZE_KBPS = 200
SETTLE_TIMEOUT_S = 30.0
STEP_TIMEOUT_S = 20.0


async def _enter(browser: Any, join_url: str, name: str, init: str) -> Any:
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    await context.add_init_script(init)
    page = await context.new_page()
    await page.goto(join_url)
    await page.fill("#name", name)
    await page.click("#join")
    await page.wait_for_selector("#room", state="visible", timeout=15000)
    return page


async def _first_frame(page: Any, since: float, matches: Any) -> float | None:
    """Page time of the first sample after ``since`` that decoded a new frame of a width that
    ``matches``, or None after STEP_TIMEOUT_S."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        rows = await lab.samples(page, since)
        for before, after in itertools.pairwise(rows):
            if after.frames > before.frames and matches(after.width):
                return after.t
        await asyncio.sleep(0.1)
    return None


async def _trials(
    browser: Any, join_url: str, publisher: Any, network: NetLab, count: int
) -> dict[str, Any]:
    layers = {}
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while len(layers) < 3 and time.monotonic() < deadline:
        layers = {rid: width for rid, width in (await lab.layers_sent(publisher)).items() if width}
        await asyncio.sleep(0.5)
    wanted = layers.get("h", 0)
    adapt: list[float] = []
    recover: list[float] = []
    # A trial that never adapts, or never recovers, is counted, not timed.
    failed = {"adapt": 0, "recover": 0, "settle": 0}
    for index in range(count):
        # A fresh viewer per trial: trials are independent (one that never recovered does not
        # spoil the next), and each starts from a new connection's estimate, as a newcomer's.
        viewer = await _enter(browser, join_url, f"Viewer {index}", f"{STANDARD};{NO_CAMERA}")
        await lab.start_recording(viewer)
        try:
            await lab.settled_on(viewer, wanted, timeout=SETTLE_TIMEOUT_S)
        except AssertionError:
            failed["settle"] += 1
            print(f"    trial {index}: not on the wanted layer to start with", flush=True)
            await viewer.context.close()
            continue
        downlink = network.link(await lab.connection_ports(viewer, "subscriber"), "down")
        network.shape(downlink, SQUEEZE_KBPS)
        squeezed = await lab.mark(viewer, f"squeeze{index}")
        lower = await _first_frame(viewer, squeezed, lambda width: 0 < width < wanted)
        await asyncio.sleep(3)
        network.restore(downlink)
        restored = await lab.mark(viewer, f"restore{index}")
        back = await _first_frame(viewer, restored, lambda width: width == wanted)
        for name, at, since, found in (
            ("adapt", lower, squeezed, adapt),
            ("recover", back, restored, recover),
        ):
            if at is None:
                failed[name] += 1
            else:
                found.append((at - since) / 1000)
        print(f"    trial {index}: adapt {_ms(lower, squeezed)}, recover {_ms(back, restored)}")
        await viewer.context.close()
    return {
        "layers": layers,
        "squeeze_kbps": SQUEEZE_KBPS,
        "trials": count,
        "failed": failed,
        "adapt": _summary(adapt),
        "recover": _summary(recover),
    }


def _ms(at: float | None, since: float) -> str:
    return "never" if at is None else f"{at - since:.0f} ms"


def _summary(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": rounded(percentile(ms, 0.5), 0),
        "p95_ms": rounded(percentile(ms, 0.95), 0),
        "max_ms": rounded(max(ms, default=None), 0),
        "samples_ms": [round(m) for m in ms],
    }


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    from playwright.async_api import async_playwright

    if env.chromium is None:
        return {"skipped": "chromium is not installed"}
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir, NetLab() as network:
        server = MosaicProcess(Path(data_dir), env.media_address).start()
        try:
            meeting = await open_meeting(server.url)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=env.chromium, args=CHROMIUM_ARGS, headless=True
                )
                try:
                    publisher = await _enter(browser, meeting.join_url, "Publisher", "")
                    print("  adaptation: squeeze and restore ...", flush=True)
                    return await _trials(
                        browser, meeting.join_url, publisher, network, plan.adaptation_trials
                    )
                finally:
                    await browser.close()
        finally:
            server.stop()
