"""Recording a live meeting on this node: the bridge between a room and the recorder.

The domain decides who may start and stop (`LiveMeeting.start_recording`); this module does
the rest of a start and a stop: a row in the store, a directory of its own under the data
directory, the media plane's `Recorder` (which subscribes like a participant and writes the
packets as they arrive), and at the stop the size and duration the Recordings page shows.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mosaic.domain.ids import new_recording_id
from mosaic.media.sfu.recorder import Recorder
from mosaic.media.sfu.router import Router
from mosaic.store.recordings import RecordingRecord, Recordings

log = logging.getLogger(__name__)


class RecorderLike(Protocol):
    """What the desk needs of the media plane's recorder (`mosaic.media.sfu.recorder`)."""

    async def start(self) -> None: ...
    async def stop(self) -> Path: ...


# (router, meeting id, directory, names: participant id -> name at the time) -> a recorder.
RecorderFactory = Callable[[Any, str, Path, Callable[[str], str]], RecorderLike]


class RecordingUnavailable(Exception):
    """This node cannot record (no media plane, or no recorder built in)."""


def media_recorder(
    router: Any, meeting_id: str, directory: Path, names: Callable[[str], str]
) -> RecorderLike:
    """The SFU's recorder, on the meeting's own router (only a `Router` can be recorded).
    A meeting spread over workers (`mosaic.signaling.span.SpannedMedia`) is recorded on its
    home's router, to which every video is relayed while the recording runs."""
    spanned = router if hasattr(router, "want_all_video") else None
    if spanned is not None:
        router = spanned.local
    if not isinstance(router, Router):
        raise RecordingUnavailable("this meeting's media plane cannot be recorded")
    recorder = Recorder(router, meeting_id, directory, names)
    if spanned is None:
        return recorder
    return _AllVideo(recorder, spanned.want_all_video)


class _AllVideo:
    """A recorder of a spanned meeting: every video relayed to the home while it runs."""

    def __init__(self, recorder: RecorderLike, want_all_video: Callable[[bool], None]) -> None:
        self._recorder = recorder
        self._want = want_all_video

    async def start(self) -> None:
        self._want(True)
        try:
            await self._recorder.start()
        except BaseException:
            self._want(False)
            raise

    async def stop(self) -> Path:
        try:
            return await self._recorder.stop()
        finally:
            self._want(False)


@dataclass
class ActiveRecording:
    record: RecordingRecord
    recorder: RecorderLike
    directory: Path


def directory_size(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())


class RecordingDesk:
    """Starts and stops the recordings of this node's rooms."""

    def __init__(
        self,
        store: Recordings,
        data_dir: Path,
        recorder_factory: RecorderFactory = media_recorder,
    ) -> None:
        self.store = store
        self.data_dir = data_dir
        self._factory = recorder_factory

    async def start(
        self,
        meeting_id: str,
        host_user_id: int,
        router: Any,
        names: Callable[[str], str],
    ) -> ActiveRecording:
        """Start a recording of the meeting: stored first (so that a crash leaves a row that
        points at whatever was written), then the recorder. Raises `RecordingUnavailable`."""
        if router is None:
            raise RecordingUnavailable("media is not available on this server")
        recording_id = new_recording_id()
        directory = self.data_dir / "recordings" / recording_id
        recorder = self._factory(router, meeting_id, directory, names)
        directory.mkdir(parents=True, exist_ok=True)
        record = await self.store.create(recording_id, meeting_id, host_user_id, datetime.now(UTC))
        try:
            await recorder.start()
        except Exception:
            await self.store.delete(recording_id)
            await asyncio.to_thread(_remove_tree, directory)
            raise
        log.info("recording %s of meeting %s started", recording_id, meeting_id)
        return ActiveRecording(record, recorder, directory)

    async def stop(self, active: ActiveRecording) -> None:
        """Stop the recorder (it finalizes its files) and store what the page shows."""
        try:
            await active.recorder.stop()
        finally:
            stopped = datetime.now(UTC)
            size = await asyncio.to_thread(directory_size, active.directory)
            duration = (stopped - active.record.started_at).total_seconds()
            await self.store.finish(active.record.id, stopped, size, duration)
            log.info("recording %s stopped (%d bytes)", active.record.id, size)

    def directory_of(self, record: RecordingRecord) -> Path:
        return self.data_dir / record.directory

    async def remove_files(self, record: RecordingRecord) -> None:
        await asyncio.to_thread(_remove_tree, self.directory_of(record))


def _remove_tree(directory: Path) -> None:
    if not directory.exists():
        return
    for path in sorted(directory.rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    directory.rmdir()
