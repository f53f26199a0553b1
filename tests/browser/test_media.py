"""Real audio and video between Chromium pages, through the SFU."""

from __future__ import annotations

import asyncio

from playwright.async_api import Page

from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoding_from, enter, inbound
from tests.helpers.api import signup
from tests.helpers.waiting import wait_until


async def test_three_browsers_see_and_hear_each_other(server, new_page: PageFactory) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    pages = []
    for name in ("Ada", "Brian", "Chloé"):
        page = await new_page()
        await enter(page, meeting["join_url"], name)
        pages.append(page)
    for page in pages:
        await wait_until(lambda page=page: decoding_from(page, 2), timeout=30)
    # Frames keep coming: video is live, not one frozen picture.
    before = [sum(v["framesDecoded"] for v in (await inbound(p))["video"]) for p in pages]
    await asyncio.sleep(2)
    after = [sum(v["framesDecoded"] for v in (await inbound(p))["video"]) for p in pages]
    assert all(b > a + 10 for a, b in zip(before, after, strict=True)), (before, after)
    for page in pages:
        assert page.errors == []  # type: ignore[attr-defined]


async def test_a_late_joiner_sees_every_video_within_a_second(
    server, new_page: PageFactory
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    early = []
    for name in ("Ada", "Brian"):
        page = await new_page()
        await enter(page, meeting["join_url"], name)
        early.append(page)
    for page in early:
        await wait_until(lambda page=page: decoding_from(page, 1), timeout=30)

    late = await new_page()
    # Joining with the camera off (as many do) spares this 2-core machine a third encoder;
    # what is measured is how fast the others' videos reach the newcomer.
    await late.add_init_script("localStorage.setItem('mosaic.camOn', 'false')")
    await late.goto(meeting["join_url"])
    await late.fill("#name", "Late Lucy")
    # Devices ready (Join before that waits for them, which would count in the time).
    await late.wait_for_selector("#join:not([aria-disabled])")
    # Time from the click on Join to the first frame of each remote video, measured in the page.
    await late.evaluate(
        """() => {
            window.firstFrames = {};
            document.getElementById('join').addEventListener('click', () => {
                const start = performance.now();
                const watch = () => {
                    for (const tile of document.querySelectorAll('#stage .tile:not(.self)')) {
                        const id = tile.dataset.participantId;
                        const shown = tile.querySelector('video').videoWidth > 0;
                        if (!(id in window.firstFrames) && shown) {
                            window.firstFrames[id] = performance.now() - start;
                        }
                    }
                    requestAnimationFrame(watch);
                };
                watch();
            });
        }"""
    )
    await late.click("#join")
    first = await wait_until(
        lambda: late.evaluate(
            "() => Object.keys(window.firstFrames).length >= 2 ? window.firstFrames : null"
        ),
        timeout=15,
        interval=0.1,
    )
    assert max(first.values()) < 1000, first


async def test_browsers_get_sender_and_receiver_reports(server, new_page: PageFactory) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    pages = []
    for name in ("Ada", "Brian"):
        page = await new_page()
        await enter(page, meeting["join_url"], name)
        pages.append(page)
    for page in pages:
        await wait_until(lambda page=page: decoding_from(page, 1), timeout=30)
    reports = """async () => {
        const types = (stats) => { const found = {}; stats.forEach((s) => {
            found[s.type] = found[s.type] || []; found[s.type].push(s); }); return found; };
        const media = window.mosaicRoom.media;
        const sub = types(await media.subscriber.getStats());
        const pub = types(await media.publisher.getStats());
        return {
            senderReports: (sub['remote-outbound-rtp'] || []).length,
            receiverReports: (pub['remote-inbound-rtp'] || [])
                .filter((r) => r.roundTripTime > 0).length,
        };
    }"""
    # Our reports go out about once a second; round-trip times need two of them.
    got = await wait_until(lambda: _reports_seen(pages[0], reports), timeout=20, interval=0.5)
    assert got["senderReports"] >= 1 and got["receiverReports"] >= 1


async def _reports_seen(page: Page, script: str):  # type: ignore[no-untyped-def]
    got = await page.evaluate(script)
    return got if got["senderReports"] and got["receiverReports"] else None


# The first connection the page answers an offer on gets another certificate's fingerprint:
# DTLS completes, the certificate check fails, the connection fails (as on a network that
# breaks DTLS). Every offer for that connection is spoiled alike; later connections are not.
SPOIL_FIRST_SUBSCRIBE_CONNECTION = """(() => {
  window.spoiledOffers = 0;
  let spoiled = null;
  const original = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (description) {
    if (description && description.type === "offer" && (spoiled === null || spoiled === this)) {
      spoiled = this;
      window.spoiledOffers += 1;
      const sdp = description.sdp.replace(
        /^(a=fingerprint:\\S+ )([0-9A-F]{2})/gm,
        (line, head, byte) => head + (byte === "00" ? "11" : "00"));
      return original.call(this, { type: "offer", sdp });
    }
    return original.apply(this, arguments);
  };
})();"""


async def test_a_failed_subscribe_connection_is_replaced_without_a_reload(
    server, new_page: PageFactory
) -> None:
    host = await signup(server.url)
    meeting = await host.create_meeting(waiting_room=False)
    ada = await new_page()
    await enter(ada, meeting["join_url"], "Ada")
    bea = await new_page()
    await bea.add_init_script(SPOIL_FIRST_SUBSCRIBE_CONNECTION)
    await enter(bea, meeting["join_url"], "Bea")
    await wait_until(lambda: decoding_from(bea, 1), timeout=40)
    assert await bea.evaluate("window.spoiledOffers") >= 1
    state = await bea.evaluate("window.mosaicRoom.media.subscriber.connectionState")
    assert state == "connected"
    assert bea.errors == []  # type: ignore[attr-defined]
