"""Each viewer gets the simulcast layer that fits the size it shows a video at."""

from __future__ import annotations

from tests.browser.conftest import PageFactory
from tests.browser.meeting import enter, inbound
from tests.helpers.api import signup
from tests.helpers.waiting import wait_until

WATCH_FRAMES = """() => {
    const video = document.querySelector('#stage .tile:not(.self) video');
    window.frameTimes = [];
    const record = (now) => {
        window.frameTimes.push(now);
        video.requestVideoFrameCallback(record);
    };
    video.requestVideoFrameCallback(record);
}"""
LONGEST_GAP = """() => {
    const t = window.frameTimes;
    let gap = 0;
    for (let i = 1; i < t.length; i++) gap = Math.max(gap, t[i] - t[i - 1]);
    return {gap, frames: t.length};
}"""


async def frame_width(page) -> int:  # type: ignore[no-untyped-def]
    videos = (await inbound(page))["video"]
    return max((v["frameWidth"] for v in videos if v["framesDecoded"]), default=0)


async def test_small_tile_gets_low_layer_large_tile_high_layer_without_freezing(
    server, new_page: PageFactory
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    publisher = await new_page(hd=True)
    await enter(publisher, meeting["join_url"], "Teacher")
    viewer = await new_page(width=360, height=640)
    await viewer.add_init_script("localStorage.setItem('mosaic.camOn', 'false')")
    await enter(viewer, meeting["join_url"], "Pupil")

    # Shown small: the quarter-size layer.
    await wait_until(lambda: _width_is(viewer, 320), timeout=30)

    # Shown large (a big window): the full layer, once bandwidth allows, without a freeze.
    await viewer.evaluate(WATCH_FRAMES)
    await viewer.set_viewport_size({"width": 1920, "height": 1080})
    await wait_until(lambda: _width_is(viewer, 1280), timeout=40)
    await viewer.wait_for_timeout(1000)
    watched = await viewer.evaluate(LONGEST_GAP)
    assert watched["frames"] >= 5, watched
    assert watched["gap"] < 500, watched

    # And small again: back down to the low layer.
    await viewer.set_viewport_size({"width": 360, "height": 640})
    await wait_until(lambda: _width_is(viewer, 320), timeout=30)


async def _width_is(page, width: int) -> bool:  # type: ignore[no-untyped-def]
    return await frame_width(page) == width
