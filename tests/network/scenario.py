"""Runs inside the client namespace: a host signs up, two Chromium pages join a meeting on
the server's URL (a publisher, and a viewer with its camera off), and one of these happens:

- ``plays``: the viewer plays the publisher's video (or does not, within the limit);
- ``cut``: once it plays, every packet of this host is dropped for 3 s, then let through;
- ``websocket``: once it plays, TCP to the server is dropped until the viewer's signaling
  gives up its connection, then let through: the viewer resumes its place.

With ``--no-udp`` all UDP is dropped from the start (only TURN over TCP can carry media).
Prints one JSON object. Not a test module itself: started by test_remote.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS

NO_CAMERA = "localStorage.setItem('mosaic.camOn', 'false')"
STANDARD = "localStorage.setItem('mosaic.videoQuality', 'standard')"


def nft(rules: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=rules, text=True, check=True)


def drop(*expressions: str) -> None:
    """Drop this host's traffic matching the nft expressions, both ways (none: let all by)."""
    subprocess.run(["nft", "delete", "table", "inet", "scenario"], capture_output=True, check=False)
    if not expressions:
        return
    body = "".join(f"    {expression} drop\n" for expression in expressions)
    chains = "".join(
        f"  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n"
        f'    {device} "lo" accept\n{body}  }}\n'
        for hook, device in (("output", "oif"), ("input", "iif"))
    )
    nft("table inet scenario {\n" + chains + "}\n")


async def frames(page: Page) -> int:
    return await page.evaluate(
        """async () => {
            const pc = window.mosaicRoom && window.mosaicRoom.media.subscriber;
            if (!pc) return 0;
            let decoded = 0;
            (await pc.getStats()).forEach((s) => {
                if (s.type === 'inbound-rtp' && s.kind === 'video') decoded += s.framesDecoded || 0;
            });
            return decoded;
        }"""
    )


async def wait_frames(page: Page, more_than: int, limit: float) -> float | None:
    """Seconds until the viewer decodes more than ``more_than`` frames, or None."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if await frames(page) > more_than:
            return time.monotonic() - started
        await asyncio.sleep(0.2)
    return None


async def main(url: str, mode: str, no_udp: bool, limit: float) -> dict[str, Any]:
    result: dict[str, Any] = {"mode": mode}
    if no_udp:
        drop("meta l4proto udp")
    async with httpx.AsyncClient(base_url=url, verify=False) as client:
        account = {"email": "host@example.org", "password": "a long and unusual passphrase"}
        signup = await client.post("/api/auth/signup", json={"name": "Host", **account})
        signup.raise_for_status()
        (await client.post("/api/auth/login", json=account)).raise_for_status()
        csrf = {"X-CSRF-Token": client.cookies["mosaic_csrf"], "Origin": url}
        meeting = (
            await client.post(
                "/api/meetings", json={"settings": {"waiting_room": False}}, headers=csrf
            )
        ).json()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"]
        )
        pages = []
        for name, script in (("Publisher", STANDARD), ("Viewer", f"{STANDARD};{NO_CAMERA}")):
            context = await browser.new_context(ignore_https_errors=True)
            await context.add_init_script(script)
            page = await context.new_page()
            for attempt in range(3):
                try:
                    await page.goto(meeting["join_url"])
                    break
                except PlaywrightError as error:
                    # Chromium reports a network change for a while after the lab's links
                    # came up; the page is simply loaded again.
                    if "ERR_NETWORK_CHANGED" not in str(error) or attempt == 2:
                        raise
                    await asyncio.sleep(1)
            await page.fill("#name", name)
            await page.click("#join")
            await page.wait_for_selector("#room:not([hidden])", timeout=30000)
            pages.append(page)
        publisher, viewer = pages
        result["first_frame_s"] = await wait_frames(viewer, 0, limit)
        if mode == "cut" and result["first_frame_s"] is not None:
            before = await frames(viewer)
            drop("ip daddr 10.77.0.0/16", "ip saddr 10.77.0.0/16")
            await asyncio.sleep(3)
            drop()
            cut_at = await frames(viewer)
            result["frames_during_cut"] = cut_at - before
            result["resumed_after_s"] = await wait_frames(viewer, cut_at, 20)
        if mode == "websocket" and result["first_frame_s"] is not None:
            viewer_id = await viewer.evaluate("window.mosaicRoom.selfId")
            port = url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
            await viewer.evaluate(
                "window.resumed = 0; window.lost = 0;"
                " window.mosaicRoom.signaling.on('resumed', () => window.resumed++);"
                " window.mosaicRoom.signaling.on('reconnecting', () => window.lost++)"
            )
            # The connection is cut until the page has noticed (its heartbeat goes
            # unanswered), however long TCP would have kept the dead connection.
            drop(f"tcp dport {port}", f"tcp sport {port}")
            dropped_at = time.monotonic()
            while time.monotonic() - dropped_at < 20 and not await viewer.evaluate("window.lost"):
                await asyncio.sleep(0.2)
            result["noticed_s"] = time.monotonic() - dropped_at
            drop()
            back_at = time.monotonic()
            while time.monotonic() - back_at < 20 and not await viewer.evaluate("window.resumed"):
                await asyncio.sleep(0.2)
            result["resumed"] = bool(await viewer.evaluate("window.resumed"))
            result["resume_s"] = time.monotonic() - back_at
            result["same_participant"] = viewer_id == await viewer.evaluate(
                "window.mosaicRoom.selfId"
            )
            result["viewer_tiles_at_publisher"] = await publisher.locator(
                f'#gallery .tile[data-participant-id="{viewer_id}"]'
            ).count()
            playing = await frames(viewer)
            result["video_after_resume_s"] = await wait_frames(viewer, playing, 10)
        await browser.close()
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("mode", choices=["plays", "cut", "websocket"])
    parser.add_argument("--no-udp", action="store_true")
    parser.add_argument("--limit", type=float, default=30.0)
    args = parser.parse_args()
    try:
        print(json.dumps(asyncio.run(main(args.url, args.mode, args.no_udp, args.limit))))
    finally:
        drop()  # leave the namespace as it was for the next scenario
