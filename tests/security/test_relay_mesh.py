"""The relay mesh (`mosaic.media.sfu.mesh`) believes only what its checks let through.

Its messages come over the cluster's bus from the meeting's other slices. A slice that is
wrong (a bug, an old process, a worker that took over) or a worker that is not in the meeting
must not make a slice show media under someone else's name, point its relay anywhere, or take
its worker down: a message that is malformed, comes from a worker that is not a peer, claims
a participant placed on another worker, or names a stream not relayed here is dropped and
counted, by the mesh's typed checks (not by its last-resort guard, which would log an error)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mosaic.domain.roster import Source
from tests.helpers.mesh import Slices
from tests.helpers.relay import until

MICROPHONE = ("ann", Source.MICROPHONE)


async def _relaying() -> tuple[Slices, dict[str, Any]]:
    """Ann on slice A, her microphone relayed to slice B; a track description of A's with
    fresh SSRCs (each attack below is refused for its own fault, not a reused SSRC)."""
    s = await Slices.open(["a", "b"])
    s.place({"ann": "a", "amy": "a", "sam": "b"})
    ann = await s["a"].publish("ann")
    ann.audio()
    await until(lambda: MICROPHONE in s["b"].router.tracks)
    [message] = [m for m in s.of("a", "b", "track") if m["track"]["source"] == "microphone"]
    return s, {**message["track"], "streams": [[777, None, None]]}


def _no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


async def test_a_slice_cannot_relay_media_under_the_name_of_someone_placed_elsewhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s, track = await _relaying()
    try:
        mesh = s.meshes["b"]
        mesh.receive("a", {"type": "track", "track": {**track, "participant_id": "sam"}})
        assert ("sam", Source.MICROPHONE) not in s["b"].router.tracks
        assert mesh.stats()["dropped"] == 1
        # The same description for someone A holds is taken: the refusal was for the name.
        mesh.receive("a", {"type": "track", "track": {**track, "participant_id": "amy"}})
        assert ("amy", Source.MICROPHONE) in s["b"].router.tracks
        assert mesh.stats()["dropped"] == 1
        _no_errors(caplog)
    finally:
        await s.close()


async def test_a_worker_outside_the_meeting_is_not_heard(caplog: pytest.LogCaptureFixture) -> None:
    s, track = await _relaying()
    try:
        mesh = s.meshes["b"]
        for message in (
            {"type": "track", "track": {**track, "participant_id": "amy"}},
            {"type": "hello", "port": 5000, "key": None, "reply": False},
            {"type": "want", "all": True, "default": False, "tracks": []},
        ):
            mesh.receive("mallory", message)
        assert ("amy", Source.MICROPHONE) not in s["b"].router.tracks
        assert mesh.stats()["dropped"] == 3 and mesh.linked() == {"a"}
        _no_errors(caplog)
    finally:
        await s.close()


async def test_malformed_mesh_messages_are_dropped_and_counted_never_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s, good = await _relaying()
    try:
        mesh = s.meshes["b"]
        [ann] = [m["track"]["streams"] for m in s.of("a", "b", "track")]
        bad: list[object] = [
            "not a dict",
            {"type": "nonsense"},
            {"type": ["hello"]},
            {"type": "hello", "port": "1", "key": None, "reply": False},
            {"type": "hello", "port": 70000, "key": None, "reply": False},
            {"type": "hello", "port": True, "key": None, "reply": False},
            {"type": "hello", "port": 5000, "key": "00" * 30, "reply": False},  # not a secure peer
            {"type": "hello", "port": 5000, "key": None, "reply": "no"},
            {"type": "track", "track": {**good, "kind": "video"}},  # opus is no video codec
            {"type": "track", "track": {**good, "source": "fax"}},
            {"type": "track", "track": {**good, "source": ["microphone"]}},
            {"type": "track", "track": {**good, "clock_rate": 8000}},
            {"type": "track", "track": {**good, "participant_id": ""}},
            {"type": "track", "track": {**good, "participant_id": "x" * 201}},
            {"type": "track", "track": {**good, "streams": [[0, None, None]]}},
            {"type": "track", "track": {**good, "streams": [[2**32, None, None]]}},
            {"type": "track", "track": {**good, "streams": [[5, 6, None]]}},  # RTX for audio
            {"type": "track", "track": {**good, "streams": [[5, None, None]] * 2}},
            {"type": "track", "track": {**good, "streams": "x"}},
            {"type": "track", "track": {**good, "streams": [[5, None]]}},
            {"type": "track", "track": "x"},
            # Amy's track on the SSRC of Ann's microphone: it would take over Ann's packets.
            {"type": "track", "track": {**good, "participant_id": "amy", "streams": ann}},
            {"type": "stop", "participant": "ann", "source": "camera", "ssrc": 1},  # not relayed
            {"type": "stop", "participant": "ann", "source": "microphone", "ssrc": 1},  # not it
            {"type": "stop", "participant": "ann", "source": {}, "ssrc": 1},
            {"type": "want", "all": "yes", "default": False, "tracks": []},
            {"type": "want", "all": False, "default": False, "tracks": [["x", "fax"]]},
            {"type": "want", "all": False, "default": False, "tracks": [["x", ["camera"]]]},
        ]
        for message in bad:
            mesh.receive("a", message)  # type: ignore[arg-type]
        assert mesh.stats()["dropped"] == len(bad)
        assert MICROPHONE in s["b"].router.tracks and len(s["b"].router.tracks) == 1
        assert mesh.linked() == {"a"}  # no hello above moved the relay
        _no_errors(caplog)
    finally:
        await s.close()
