"""The recorder: a subscriber of its own on every up track of a meeting, writing to disk.

It joins each published source as one more `seam.Sink` on an up stream (the largest layer of
a simulcast track), so the SFU forwards to it exactly as to a subscriber's slot and nothing
another receiver gets changes. Packets are never decoded: VP8 frames are put together from
their RTP packets (`mosaic.recording.frames`) and Opus packets taken as they are, and each
source goes to its own WebM file through PyAV's muxer (`mosaic.recording.writer`), on a writer
thread, so the event loop only copies bytes.

Interface (used by the signaling layer, R2):

    recorder = Recorder(router, meeting_id, directory, names)
    await recorder.start()        # files appear under ``directory``
    manifest = await recorder.stop()  # every file finalized; the path of manifest.json
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mosaic.media.sfu.router import Router


class Recorder:
    """Records every published source of one meeting's router into ``directory``.

    ``names`` gives a participant's display name at the time (written to the manifest, so that
    a later rename does not rewrite history). The recorder follows publishers as they come and
    go: a source published after `start` is recorded from its first keyframe."""

    def __init__(
        self,
        router: Router,
        meeting_id: str,
        directory: Path,
        names: Callable[[str], str],
    ) -> None:
        self.router = router
        self.meeting_id = meeting_id
        self.directory = Path(directory)
        self.names = names

    async def start(self) -> None:
        """Begin recording every source now published, and every one published later."""
        raise NotImplementedError

    async def stop(self) -> Path:
        """Stop, finalize every file and return the path of ``manifest.json``."""
        raise NotImplementedError
