"""/metrics in Prometheus' text format, with counters that move during a meeting."""

from __future__ import annotations

import contextlib

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mosaic.client import SignalingClient, SignalingError, join
from mosaic.client.synthetic import PatternVideoTrack
from tests.helpers.api import Account
from tests.helpers.server import MosaicServer


async def scrape(server: MosaicServer) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = sample.name + "".join(f"[{v}]" for v in sample.labels.values())
            values[key] = sample.value
    return values


async def test_metrics_parse_and_move_during_a_meeting(server: MosaicServer, host: Account) -> None:
    before = await scrape(server)
    for name in (
        "mosaic_meetings",
        "mosaic_participants[admitted]",
        "mosaic_packets_forwarded_total",
        "mosaic_event_loop_lag_seconds",
    ):
        assert name in before, name
    meeting = await host.create_meeting(waiting_room=False)
    loopback = ["127.0.0.1"]
    a = await join(meeting["join_url"], name="A", cookies=host.cookies, local_addresses=loopback)
    b = await join(meeting["join_url"], name="B", local_addresses=loopback)
    async with a, b:
        await a.publish(video=PatternVideoTrack(width=320, height=180, fps=10))
        await b.wait_until(lambda: b.media.slot_of(a.id) is not None, 15)
        await b.wait_until(lambda: b.media.received[b.media.slot_of(a.id)].packets > 30, 15)  # type: ignore[index]
        during = await scrape(server)
        assert (
            during["mosaic_participants[admitted]"] >= before["mosaic_participants[admitted]"] + 2
        )
        assert during["mosaic_forwarded_streams"] >= 1
        assert during["mosaic_packets_forwarded_total"] > before["mosaic_packets_forwarded_total"]
        assert during["mosaic_bytes_forwarded_total"] > before["mosaic_bytes_forwarded_total"]
    client = SignalingClient(server.url.replace("http", "ws") + "/ws")
    await client.connect()
    with contextlib.suppress(SignalingError):
        await client.request("join", meeting=meeting["id"], name="X", passcode="wrong")
    await client.close()
    after = await scrape(server)
    assert after["mosaic_join_failures_total[bad_passcode_or_id]"] >= 1
    assert after["mosaic_packets_forwarded_total"] >= during["mosaic_packets_forwarded_total"]
