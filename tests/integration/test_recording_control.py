"""Recording driven over signaling, as the web client and bots drive it: the host starts it
(`recording.start`), everyone is told, a co-host the host lets record stops it, and the
recording is stored with its files, size and duration; a meeting whose last participant
leaves stops its recording and finalizes it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mosaic.client import join, parse_join_url
from mosaic.client.synthetic import PatternVideoTrack, ToneAudioTrack
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_services_in_process
from tests.helpers.participants import frames_from

LOOPBACK = ["127.0.0.1"]


async def test_the_host_records_everyone_is_told_and_the_recording_is_stored(
    tmp_path: Path,
) -> None:
    async with serve_services_in_process(tmp_path) as (base_url, services):
        host = await signup(base_url)
        created = await host.create_meeting(waiting_room=False)
        meeting_id = parse_join_url(created["join_url"])[1]
        store = services.recordings.store
        a = await join(
            created["join_url"], name="Ann", cookies=host.cookies, local_addresses=LOOPBACK
        )
        b = await join(created["join_url"], name="Bob", local_addresses=LOOPBACK)
        async with a, b:
            for person in (a, b):
                await person.publish(audio=ToneAudioTrack(), video=PatternVideoTrack(320, 180))
            await frames_from(b, a, 2)
            await frames_from(a, b, 2)

            assert await a.request("recording.start") == {"recording": True}
            await b.wait_until(lambda: b.meeting.get("recording") is True)
            assert await a.request("recording.start") == {"recording": True}  # no second one
            await asyncio.sleep(2.0)
            # The host lets Bob, made co-host, record: he stops it.
            await a.request("cohost", participant=b.id, cohost=True)
            await a.request("settings", settings={"cohosts_may_record": True})
            await b.wait_until(lambda: b.meeting["settings"]["cohosts_may_record"] is True)
            assert await b.request("recording.stop") == {"recording": False}
            await a.wait_until(lambda: a.meeting.get("recording") is False)

            [stopped] = await store.list_for_meeting(meeting_id)
            assert stopped.stopped_at is not None and stopped.duration_s is not None
            assert 2.0 <= stopped.duration_s < 15.0
            directory = tmp_path / stopped.directory
            files = sorted(p.name for p in directory.iterdir())
            assert stopped.size_bytes == sum(p.stat().st_size for p in directory.iterdir())
            assert sum(name.endswith(".webm") for name in files) == 4, files  # 2 people x 2
            manifest = json.loads((directory / "manifest.json").read_text())
            assert {f["name"] for f in manifest["files"]} == {"Ann", "Bob"}

            # Started again, then everyone leaves: the closing room stops and stores it.
            await a.request("recording.start")
            await asyncio.sleep(1.0)
        await asyncio.sleep(0.5)
        for _ in range(50):
            recordings = await store.list_for_meeting(meeting_id)
            if len(recordings) == 2 and all(r.stopped_at is not None for r in recordings):
                break
            await asyncio.sleep(0.2)
        assert [r.stopped_at is not None for r in recordings] == [True, True]
        assert services.rooms.get(meeting_id) is None
        await host.client.aclose()
