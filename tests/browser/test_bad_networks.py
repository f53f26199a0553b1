"""Bad networks: every viewer gets the best picture its link carries, and nobody freezes.

Each test runs a real meeting inside a namespace of its own (a `mosaic serve`, a Chromium
publisher, a Chromium or Firefox viewer) and changes one browser connection's link in the
middle of it with tests/helpers/netlab.py: the viewer's downlink shaped to 200 kbit/s, then
64 kbit/s, then restored; the publisher's uplink shaped; 5 % random loss. What the viewer
decodes and hears is recorded in its page every 25 ms (tests/browser/bad_network.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.async_api import async_playwright

from mosaic.bots.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.browser import bad_network as lab
from tests.browser.meeting import enter
from tests.helpers.api import signup
from tests.helpers.firefox import Firefox
from tests.helpers.firefox_lab import FIREFOX_LAB, firefox_enters
from tests.helpers.netlab import NetLab
from tests.helpers.server import MosaicServer
from tests.helpers.waiting import wait_until

pytestmark = [*FIREFOX_LAB, pytest.mark.timeout(150)]


# What the server does not do yet (run with `pytest --runxfail`, each failure prints the whole
# story). Not run by default (each costs ~40 s).
NOT_YET = pytest.mark.xfail(
    run=False, reason="issue 18's server side does not adapt this fast yet (see the comment)"
)


@pytest.fixture
def network(inside: str) -> Iterator[NetLab]:
    with NetLab() as made:
        yield made


@pytest.fixture
async def chromium(inside: str) -> AsyncIterator[Any]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield browser
        await browser.close()


@dataclass
class Meeting:
    publisher: Any
    viewer: Any
    layers: dict[str, int]  # rid -> width the publisher sends (1280, 640, 320)
    wanted: int  # the width of the layer the viewer's tile wants
    join_url: str

    @property
    def quarter(self) -> int:
        return min(self.layers.values())


async def chromium_viewer(chromium: Any, join_url: str, store: dict[str, str]) -> Any:
    context = await chromium.new_context(
        viewport={"width": 1280, "height": 800}, permissions=["camera", "microphone"]
    )
    await context.add_init_script(
        ";".join(f"localStorage.setItem({k!r}, {v!r})" for k, v in store.items())
    )
    page = await context.new_page()
    await enter(page, join_url, "Viewer")
    return page


async def meeting_with(
    server: MosaicServer, chromium: Any, fox: Firefox | None = None, *, full: bool = False
) -> Meeting:
    """A Chromium publisher sending its three layers of 720p, and a viewer (Chromium, or
    Firefox when given) in a 1280x800 window decoding the layer its tile wants: 640x360 for
    a tile beside its own (the issue's case), 1280x720 for the only tile (``full``). The
    state every squeeze starts from."""
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    context = await chromium.new_context(permissions=["camera", "microphone"])
    publisher = await context.new_page()  # HD: the three layers of 720p
    await enter(publisher, meeting["join_url"], "Speaker")
    store = {"mosaic.videoQuality": "standard", "mosaic.camOn": "false"}
    if full:
        store["mosaic.hideSelf"] = "true"
    if fox is None:
        viewer = await chromium_viewer(chromium, meeting["join_url"], store)
    else:
        viewer = await fox.first_page()
        await firefox_enters(viewer, meeting["join_url"], "Viewer", **store)
    layers = await wait_until(lambda: _three_layers(publisher), timeout=30)
    await lab.start_recording(viewer)
    made = Meeting(publisher, viewer, layers, layers["f" if full else "h"], meeting["join_url"])
    await lab.settled_on(viewer, made.wanted, timeout=40)
    return made


async def _three_layers(publisher: Any) -> dict[str, int] | None:
    layers = await lab.layers_sent(publisher)
    return layers if len(layers) == 3 and all(layers.values()) else None


async def squeeze_and_restore(meeting: Meeting, network: NetLab) -> None:
    """The issue's downlink story, on one viewer: 200 kbit/s, 64 kbit/s, restored."""
    viewer = meeting.viewer
    downlink = network.link(await lab.connection_ports(viewer, "subscriber"), "down")

    # 200 kbit/s: within 5 s the quarter layer at 12 fps or more (not the top one at 2 fps).
    network.shape(downlink, 200)
    squeezed = await lab.mark(viewer, "200")
    rows = await lab.watch_for(viewer, 7)
    adapted = lab.first_steady(rows, meeting.quarter, 12, 2000)
    assert adapted is not None and adapted - squeezed <= 5000, (
        f"{_story(rows, squeezed)} {network.counters(downlink)}"
    )

    # 64 kbit/s: the video pauses (the tile says so) and the speaker is still heard.
    network.shape(downlink, 64)
    await lab.mark(viewer, "64")
    await wait_until(lambda: viewer.evaluate(lab.PAUSED_MARK), timeout=10)
    rows = await lab.watch_for(viewer, 5)
    gap = lab.longest_gap(rows, "audio_packets")
    assert gap <= 200 + 30, f"{gap} {network.counters(downlink)}"  # 30: the recorder's period
    # The others see it too: the viewer's tile at the publisher says "poor connection".
    await wait_until(lambda: meeting.publisher.evaluate(lab.QUALITY_OF % "Viewer"), timeout=10)
    assert await meeting.publisher.evaluate(lab.QUALITY_OF % "Viewer") == "poor"

    # Restored: back on the layer the tile wants within 10 s, and the mark gone.
    network.restore(downlink)
    seconds = await lab.settled_on(viewer, meeting.wanted, timeout=10)
    assert seconds <= 10
    assert not await viewer.evaluate(lab.PAUSED_MARK)


UPLINK_NOTICE = "!document.querySelector('#uplink-notice').hidden"
UNSTABLE_MARK = "!!document.querySelector('#stage .tile:not(.self) .unstable-mark[aria-label]')"


async def _not(value: Any) -> bool:
    return not await value


def _story(rows: list[lab.Sample], since: float) -> list[tuple[int, int, float, str]]:
    """(ms after the squeeze, width, fps over the next 500 ms, "paused" if the server said so)
    every 500 ms: a failure's tale."""
    told = []
    for start in range(0, int(rows[-1].t - since) if rows else 0, 500):
        window = [s for s in rows if since + start <= s.t <= since + start + 500]
        if window:
            fps = round(lab.fps(rows, since + start, since + start + 500), 1)
            told.append((start, window[-1].width, fps, "paused" if window[-1].paused else ""))
    return told


async def test_a_squeezed_chromium_viewer_drops_to_the_quarter_layer_keeps_hearing_and_recovers(
    lab_server: MosaicServer, chromium: Any, network: NetLab
) -> None:
    meeting = await meeting_with(lab_server, chromium)
    await squeeze_and_restore(meeting, network)


# Firefox viewer (05:00-05:20, load 9-17 on 2 cores; its Chromium twin passed 1 of 3 runs then,
# before and after these changes alike): 4 of 5, 2 of 3 and 4 of 5 runs pass since the server
# stopped repairing the layer a slot left (Firefox asks for them again and again), repairs a
# picture's losses in one burst, and waits 7 s after a pause before probing, then retries 2 s
# later. Server side, the quarter layer starts 0.10-0.31 s after the estimate's cut, the first
# probe after a pause comes 7.0-7.1 s after it, the 640x360 layer 4-7 s after the restore.
# Left: (1) Firefox at times decodes the quarter layer at 20 fps yet reports 640 wide (it
# decodes the new layer's interframes on the old layer's pictures until the keyframe gets
# through, it seems: the server did not rewrite VP8 picture ids and TL0PICIDX across a
# switch; it does since 05:35, when one run of this test and its twin passed at load 4);
# (2) audio gaps of 355-594 ms at 64 kbit/s: in the runs traced, the server's ticks
# were 300 ms late then (CPU starved), as in the twin's failures.
async def test_a_squeezed_firefox_viewer_drops_to_the_quarter_layer_keeps_hearing_and_recovers(
    lab_server: MosaicServer, chromium: Any, fox: Firefox, network: NetLab
) -> None:
    meeting = await meeting_with(lab_server, chromium, fox)
    await squeeze_and_restore(meeting, network)


# The uplink limit (sfu/uplink_limit.py) sees the queue grow from the publisher's send times
# and cuts about 0.5 s into the squeeze, before the loss, to room for the quarter layer only:
# the viewer's longest freeze was 0.20-0.34 s in 5 measured runs and the test passed 10 of 11
# (once the meeting did not settle on 1280x720 before the squeeze: 2 cores loaded by others).
async def test_a_publisher_whose_uplink_drops_keeps_its_viewers_watching_without_a_freeze(
    lab_server: MosaicServer, chromium: Any, network: NetLab
) -> None:
    meeting = await meeting_with(lab_server, chromium, full=True)
    uplink = network.link(await lab.connection_ports(meeting.publisher, "publisher"), "up")
    # Room for the lower layers (~370 and ~100 kbit/s) and the audio, not for the full one
    # (~750): the publisher's browser stops sending it, and its viewer must move to a layer
    # still flowing.
    network.shape(uplink, 700)
    since = await lab.mark(meeting.viewer, "uplink")
    # Watched 10 s, or 6 s once the last 3 s were all a lower layer at 12 fps or more (the
    # move, ~1 s in, is long over then: it settled 4.0 and 4.3 s in, in two 10 s watches).
    rows = await lab.watch_until(
        meeting.viewer, 10, lambda rows: _watching_lower(rows, since + 6000, meeting.wanted)
    )
    gap = lab.longest_gap(rows, "frames")
    assert gap < 1500, f"{gap} {_story(rows, since)} {network.counters(uplink)}"
    assert rows[-1].width < meeting.wanted, f"{_story(rows, since)}"
    assert lab.fps(rows, rows[-1].t - 3000, rows[-1].t) >= 12, f"{_story(rows, since)}"

    # An uplink that cannot carry even the smallest layer: the publisher is told, and the
    # viewer sees the mark on its tile.
    network.shape(uplink, 40)
    await wait_until(lambda: meeting.publisher.evaluate(UPLINK_NOTICE), timeout=10)
    await wait_until(lambda: meeting.viewer.evaluate(UNSTABLE_MARK), timeout=10)
    network.restore(uplink)
    await wait_until(lambda: _not(meeting.publisher.evaluate(UPLINK_NOTICE)), timeout=15)


def _watching_lower(rows: list[lab.Sample], not_before: float, wanted: int) -> bool:
    """From ``not_before`` (page time) on: the last 3 s of ``rows`` are frames of a layer
    below ``wanted`` only, at 12 fps or more."""
    if not rows or rows[-1].t < not_before:
        return False
    last = [s for s in rows if s.t >= rows[-1].t - 3000]
    return (
        all(s.width < wanted for s in last) and lab.fps(rows, rows[-1].t - 3000, rows[-1].t) >= 12
    )


async def test_random_loss_without_congestion_does_not_push_a_viewer_down(
    lab_server: MosaicServer, chromium: Any, network: NetLab
) -> None:
    meeting = await meeting_with(lab_server, chromium)
    downlink = network.link(await lab.connection_ports(meeting.viewer, "subscriber"), "down")
    network.lose(downlink, 5)
    since = await lab.mark(meeting.viewer, "loss")
    rows = await lab.watch_for(meeting.viewer, 10)
    # NACKs repair it: the wanted layer throughout, still playing.
    widths = {s.width for s in rows if s.frames}
    assert widths == {meeting.wanted}, f"{_story(rows, since)}"
    assert lab.fps(rows, since, rows[-1].t) >= 12, f"{_story(rows, since)}"


async def test_data_saver_caps_what_a_viewer_receives_in_that_meeting(
    lab_server: MosaicServer, chromium: Any
) -> None:
    meeting = await meeting_with(lab_server, chromium)
    viewer = meeting.viewer
    await viewer.click("#data-saver")
    assert await viewer.get_attribute("#data-saver", "aria-pressed") == "true"
    # 300 kbit/s: the quarter layer and the audio, on a link that could carry more.
    await lab.settled_on(viewer, meeting.quarter, timeout=10)
    rows = await lab.watch_for(viewer, 3)
    assert {s.width for s in rows if s.frames} == {meeting.quarter}
    # Remembered for this meeting: back in it later, it is still on.
    await viewer.goto("about:blank")
    await enter(viewer, meeting.join_url, "Viewer")
    assert await viewer.get_attribute("#data-saver", "aria-pressed") == "true"
    await viewer.click("#data-saver")
    await lab.start_recording(viewer)
    await lab.settled_on(viewer, meeting.wanted, timeout=15)
