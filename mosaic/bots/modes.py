"""What a bot publishes (its own module: the command line needs it without loading aiortc)."""

from __future__ import annotations

from enum import StrEnum


class MediaMode(StrEnum):
    """What a bot publishes. Every bot subscribes to everything it is offered."""

    VIDEO = "video"  # audio and video
    AUDIO_ONLY = "audio-only"
    NONE = "none"  # signaling only: joins, publishes nothing
