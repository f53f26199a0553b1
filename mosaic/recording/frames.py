"""Frames from RTP payloads, without decoding: what a WebM file stores, one block a frame.

VP8 (RFC 7741): a frame is the run of packets sharing a timestamp, from the one whose payload
descriptor has S=1 and PID=0 to the one with the marker bit; each payload loses its descriptor.
A frame with a hole is never written: the assembler waits a little for the repair (a NACK
answered from the SFU's cache or by the publisher), then gives up and restarts at the next
keyframe, which its owner asks for. Corrupt frames would smear the picture until the next
keyframe; a short freeze does not.

Opus (RFC 7587): one packet is one frame, written as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from mosaic.media.wire.codecs import is_keyframe, vp8_descriptor_size, vp8_picture_size

# How long a hole may stay open before the frames behind it are given up (a NACK round trip
# to the publisher and back, with room to spare), and how many packets may wait behind one.
REPAIR_WAIT_S = 0.5
MAX_WAITING = 1024


@dataclass(slots=True)
class Frame:
    timestamp: int  # RTP timestamp (wrapping 32 bits)
    data: bytes
    keyframe: bool
    size: tuple[int, int] | None  # (width, height) of a VP8 keyframe


class Vp8Assembler:
    """Packets in (in any order, duplicates welcome), whole frames out, in order.

    ``push`` answers the frames completed; ``missing`` the sequence numbers a hole waits for
    (to ask for again); ``broken`` turns True when a hole was given up, until the owner has
    seen it (and asked for a keyframe)."""

    def __init__(self) -> None:
        self.next_seq: int | None = None  # None: waiting for a keyframe's first packet
        self.waiting: dict[int, tuple[int, bool, bytes]] = {}
        self.parts: list[bytes] = []
        self.frame_timestamp = 0
        self.frame_key = False
        self.frame_size: tuple[int, int] | None = None
        self.hole_since: float | None = None
        self.broken = False
        self.dropped_frames = 0

    def push(
        self, sequence_number: int, timestamp: int, marker: bool, payload: bytes, now: float
    ) -> list[Frame]:
        if self.next_seq is None:
            if not is_keyframe("vp8", payload):
                return []
            self.next_seq = sequence_number
            self.waiting.clear()
        elif (sequence_number - self.next_seq) & 0xFFFF >= 0x8000:
            return []  # already written (or given up): a late copy
        self.waiting[sequence_number] = (timestamp, marker, payload)
        frames: list[Frame] = []
        while self.next_seq is not None and self.next_seq in self.waiting:
            seq = self.next_seq
            self.next_seq = (seq + 1) & 0xFFFF
            frame = self._take(*self.waiting.pop(seq))
            if frame is not None:
                frames.append(frame)
        if not self.waiting:
            self.hole_since = None
        elif self.hole_since is None:
            self.hole_since = now
        elif now - self.hole_since > REPAIR_WAIT_S or len(self.waiting) > MAX_WAITING:
            self._give_up()
        return frames

    def missing(self) -> list[int]:
        """The sequence numbers between what was written and the newest waiting packet."""
        if self.next_seq is None or not self.waiting:
            return []
        newest = max(self.waiting, key=lambda s: (s - self.next_seq) & 0xFFFF)  # type: ignore[operator]
        count = (newest - self.next_seq) & 0xFFFF
        return [
            (self.next_seq + i) & 0xFFFF
            for i in range(min(count, 64))
            if (self.next_seq + i) & 0xFFFF not in self.waiting
        ]

    def _take(self, timestamp: int, marker: bool, payload: bytes) -> Frame | None:
        skip = vp8_descriptor_size(payload)
        if not skip or skip >= len(payload):  # truncated, or a descriptor with no frame
            self._give_up()
            return None
        first = payload[0]
        starts = bool(first & 0x10) and not first & 0x07
        if starts:
            if self.parts:  # the previous frame never saw its marker: incomplete
                self._give_up()
                return None
            self.frame_timestamp = timestamp
            self.frame_key = is_keyframe("vp8", payload)
            self.frame_size = vp8_picture_size(payload) if self.frame_key else None
        elif not self.parts or timestamp != self.frame_timestamp:
            self._give_up()
            return None
        self.parts.append(payload[skip:])
        if not marker:
            return None
        frame = Frame(self.frame_timestamp, b"".join(self.parts), self.frame_key, self.frame_size)
        self.parts = []
        return frame

    def _give_up(self) -> None:
        self.dropped_frames += 1
        self.next_seq = None
        self.waiting.clear()
        self.parts = []
        self.hole_since = None
        self.broken = True
