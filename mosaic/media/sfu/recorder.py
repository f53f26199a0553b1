"""The recorder: a subscriber of its own on every up track of a meeting, writing to disk.

It joins each published source as one more `seam.Sink` on an up stream (the largest layer of
a simulcast track), so the SFU forwards to it exactly as to a subscriber's slot: the up stream
hands it the template it builds anyway, and nothing another receiver gets changes. Packets are
never decoded: VP8 frames are put together from their RTP packets
(`mosaic.recording.frames`), Opus packets taken as they are, and each source goes to its own
WebM file through PyAV's muxer on a writer thread (`mosaic.recording.writer`): the event loop
only copies bytes.

Video starts at a keyframe (a fresh cached one, else one asked for); a hole the SFU's cache
or the publisher does not repair within half a second drops the frames behind it and asks for a
keyframe, so no corrupt frame is written. A new keyframe of another size, or a switch to
another simulcast layer, starts a new file. Each file's place on the recording's timeline
comes from RTP time mapped to the publisher's clock by its RTCP sender reports (audio and video
of one person line up), anchored to the moment its first frame arrived here.

Interface (used by the signaling layer):

    recorder = Recorder(router, meeting_id, directory, names)
    await recorder.start()            # files appear under ``directory``
    manifest = await recorder.stop()  # every file finalized; the path of manifest.json
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mosaic.media.sfu.up import UpStream, UpTrack
from mosaic.media.wire.rtcp import unix_from_ntp
from mosaic.media.wire.rtp import RtpHeader
from mosaic.recording.frames import Vp8Assembler
from mosaic.recording.manifest import write_manifest
from mosaic.recording.writer import DiskWriter

if TYPE_CHECKING:
    from mosaic.media.sfu.router import Router
    from mosaic.media.sfu.seam import Feed

log = logging.getLogger(__name__)

# How often the recorder looks for sources that came or went, and for a better layer.
FOLLOW_S = 0.25


def _signed(delta: int) -> int:
    """A 32-bit RTP time difference, as the signed number it stands for."""
    delta &= 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


def _safe(text: str) -> str:
    """A file-name part: letters, digits, "-" and "_" only (ids come from a relay too)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)[:64]


class _TrackFileInfo:
    """One file of the recording, as the manifest describes it."""

    def __init__(
        self, name: str, kind: str, first_rtp: int, arrival_wall: float, stream: UpStream
    ) -> None:
        self.name = name
        self.kind = kind
        self.first_rtp = first_rtp  # RTP time of its first frame (32 bits)
        self.arrival_wall = arrival_wall  # Unix time that frame arrived
        self.stream = stream
        self.width = 0
        self.height = 0
        self.frames = 0
        self.last_rtp = first_rtp
        self.rtp_span = 0  # last frame's RTP time minus the first's
        self.sent: float | None = None  # see `sender_wall`

    def sender_wall(self) -> float | None:
        """The first frame's time on the publisher's clock, by the first sender report heard
        after it (kept: RTP time wraps, so a report hours later could no longer place it)."""
        if self.sent is None:
            stats = self.stream.stats
            if not stats.sr_ntp:
                return None
            seconds = _signed(self.first_rtp - stats.sr_rtp) / stats.clock_rate
            self.sent = unix_from_ntp(stats.sr_ntp) + seconds
        return self.sent


class SourceRecording:
    """The recorder's `seam.Sink` on one published source: frames out to its files."""

    def __init__(self, recorder: Recorder, track: UpTrack) -> None:
        self.recorder = recorder
        self.track = track
        self.participant_id = track.participant_id
        self.name = recorder.name_of(track.participant_id)
        self.kind = track.kind
        self.clock_rate = track.clock_rate
        self.feed: UpStream | None = None  # the stream written now
        self.target: UpStream | None = None  # a stream waited on for a keyframe
        self.assembler = Vp8Assembler() if track.kind == "video" else None
        self.file: _TrackFileInfo | None = None
        self.key = ""
        self.asked: set[int] = set()
        self.packets = 0
        self.closed = False

    # -- choosing what to record --------------------------------------------------------------

    def follow(self, now: float) -> None:
        """Record the largest layer still flowing; switching to another is a new file."""
        layers = self.track.layers(now)
        best = layers[-1][0] if layers else (self.track.streams[-1] if self.track.streams else None)
        if best is None or best is self.feed or best is self.target:
            return
        if self.kind == "audio":
            self.start(best, now)
            return
        if self.target is not None:
            self.target.cancel_wait(self)
        self.target = best
        if not best.catch_up(self, now):
            best.wait_keyframe(self)
            best.request_keyframe(now)

    # -- seam.Sink ------------------------------------------------------------------------------

    def start(self, feed: Feed, now: float) -> None:
        assert isinstance(feed, UpStream)
        if self.target is not None and self.target is not feed:
            self.target.cancel_wait(self)
        self.target = None
        if self.feed is not None and self.feed is not feed:
            self.feed.remove_down(self)
            self._finish_file()
        self.feed = feed
        if self.assembler is not None:
            self.assembler = Vp8Assembler()
        feed.add_down(self)

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        if self.closed or not self.track.forwarding:
            return
        self.packets += 1
        size = header.payload_end - header.payload_offset
        payload = bytes(template[len(template) - size :])
        if self.assembler is None:
            self._frame(header.timestamp, payload, True, None)
            return
        assembler = self.assembler
        for frame in assembler.push(
            header.sequence_number, header.timestamp, header.marker, payload, now
        ):
            self._frame(frame.timestamp, frame.data, frame.keyframe, frame.size)
        if assembler.waiting:
            self._repair(now)
        elif self.asked:
            self.asked.clear()
        if assembler.broken:
            assembler.broken = False
            self.asked.clear()
            feed = self.feed
            if feed is not None:
                feed.request_keyframe(now)

    def _repair(self, now: float) -> None:
        """Ask the up stream's cache once for each packet a hole waits for (the SFU's own NACK
        to the publisher repairs the rest, and the repair is written to every sink)."""
        feed = self.feed
        assembler = self.assembler
        if feed is None or assembler is None:
            return
        for seq in assembler.missing():
            if seq in self.asked:
                continue
            self.asked.add(seq)
            found = feed.resend(seq, now)
            if found is not None:
                template, header = found
                self.write(template, header, now)

    def skip(self, sequence_number: int) -> None:
        # Padding: nothing to write, and no hole either.
        assembler = self.assembler
        if assembler is not None and assembler.next_seq == sequence_number:
            assembler.next_seq = (sequence_number + 1) & 0xFFFF

    def detach(self) -> None:
        self.feed = None
        self.target = None
        self._finish_file()

    @property
    def ready(self) -> bool:
        return not self.closed

    def awaits_media(self, now: float) -> bool:
        return not self.closed

    # -- files ------------------------------------------------------------------------------------

    def _frame(
        self, timestamp: int, data: bytes, keyframe: bool, size: tuple[int, int] | None
    ) -> None:
        file = self.file
        if file is not None and size is not None and (size != (file.width, file.height)):
            self._finish_file()  # the resolution changed: a new file
            file = None
        if file is None:
            if self.kind == "video" and not keyframe:
                return
            file = self._open_file(timestamp, size)
        elif _signed(timestamp - file.last_rtp) < 0:
            return  # late audio: Matroska times only go forward
        file.rtp_span += _signed(timestamp - file.last_rtp)
        file.last_rtp = timestamp
        file.frames += 1
        pts_ms = file.rtp_span * 1000 // self.clock_rate
        self.recorder.write(self.key, pts_ms, data, keyframe)

    def _open_file(self, timestamp: int, size: tuple[int, int] | None) -> _TrackFileInfo:
        assert self.feed is not None
        recorder = self.recorder
        index = recorder.next_index()
        source = self.track.source.value
        name = f"{index:03d}-{_safe(self.participant_id)}-{_safe(source)}.webm"
        file = _TrackFileInfo(name, self.kind, timestamp, time.time(), self.feed)
        if size is not None:
            file.width, file.height = size
        self.key = name
        self.file = file
        recorder.open_file(name, self.kind, size)
        recorder.files.append((self, file))
        recorder.save()
        return file

    def _finish_file(self) -> None:
        if self.file is not None:
            self.recorder.close_file(self.key)
            self.file = None

    def close(self) -> None:
        self.closed = True
        if self.feed is not None:
            self.feed.remove_down(self)
        if self.target is not None:
            self.target.cancel_wait(self)
        self.feed = self.target = None
        self._finish_file()


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
        self.sources: dict[UpTrack, SourceRecording] = {}
        self.files: list[tuple[SourceRecording, _TrackFileInfo]] = []
        self.participants: dict[str, str] = {}
        self.started_wall = 0.0
        self.stopped_wall: float | None = None
        self._index = 0
        self._task: asyncio.Task[None] | None = None
        self.writer: DiskWriter | None = None

    async def start(self) -> None:
        """Begin recording every source now published, and every one published later."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.writer = DiskWriter()
        self.started_wall = time.time()
        self.follow()
        self.save()
        self._task = asyncio.create_task(self._follow_forever())

    async def stop(self) -> Path:
        """Stop, finalize every file and return the path of ``manifest.json`` (also when
        `start` never ran: an empty recording)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for source in self.sources.values():
            source.close()
        self.sources.clear()
        self.stopped_wall = time.time()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.stop)
        self.directory.mkdir(parents=True, exist_ok=True)
        return self.save()

    def name_of(self, participant_id: str) -> str:
        try:
            return self.names(participant_id)
        except Exception:  # a participant gone meanwhile: the id is still a name
            log.warning("no name for participant %s", participant_id)
            return participant_id

    def open_file(self, name: str, kind: str, size: tuple[int, int] | None) -> None:
        if self.writer is not None:
            self.writer.open(name, self.directory / name, kind, size)

    def write(self, name: str, pts_ms: int, data: bytes, keyframe: bool) -> None:
        if self.writer is not None:
            self.writer.write(name, pts_ms, data, keyframe)

    def close_file(self, name: str) -> None:
        if self.writer is not None:
            self.writer.close(name)

    def next_index(self) -> int:
        self._index += 1
        return self._index

    async def _follow_forever(self) -> None:
        while True:
            await asyncio.sleep(FOLLOW_S)
            try:
                self.follow()
            except Exception:
                log.exception(
                    "recorder of meeting %s failed to follow its sources", self.meeting_id
                )

    def follow(self) -> None:
        """Join sources that appeared, leave those that went, and follow layer changes."""
        now = self.router.clock()
        tracks = set(self.router.tracks.values())
        for track in [t for t in self.sources if t not in tracks]:
            self.sources.pop(track).close()
        for track in tracks:
            source = self.sources.get(track)
            if source is None:
                source = self.sources[track] = SourceRecording(self, track)
                self.participants[track.participant_id] = source.name
            source.follow(now)
        unplaced = [file for _, file in self.files if file.sent is None]
        if unplaced and any(file.sender_wall() is not None for file in unplaced):
            self.save()  # a file's place on the timeline is known now

    def save(self) -> Path:
        return write_manifest(self.directory, self.manifest())

    def manifest(self) -> dict[str, Any]:
        """Offsets: each file's first frame on the publisher's clock (sender reports), so a
        person's audio and video line up; each person's clock anchored to our own by the
        earliest arrival of their first frames (their clocks may differ from ours)."""
        skew: dict[str, float] = {}
        for source, file in self.files:
            sent = file.sender_wall()
            if sent is not None:
                gap = file.arrival_wall - sent
                pid = source.participant_id
                skew[pid] = min(skew.get(pid, gap), gap)
        files = []
        for source, file in self.files:
            sent = file.sender_wall()
            pid = source.participant_id
            wall = sent + skew[pid] if sent is not None and pid in skew else file.arrival_wall
            files.append(
                {
                    "file": file.name,
                    "participant_id": pid,
                    "name": source.name,
                    "source": source.track.source.value,
                    "kind": file.kind,
                    "codec": "vp8" if file.kind == "video" else "opus",
                    "width": file.width or None,
                    "height": file.height or None,
                    "offset_s": round(wall - self.started_wall, 4),
                    "duration_s": round(file.rtp_span / source.clock_rate, 4),
                    "frames": file.frames,
                }
            )
        return {
            "meeting_id": self.meeting_id,
            "started_at": self.started_wall,
            "stopped_at": self.stopped_wall,
            "participants": [{"id": p, "name": n} for p, n in self.participants.items()],
            "files": files,
        }
