"""Every Redis key and channel Mosaic uses, in one place (prefix ``mosaic:``).

Nobody spells a key elsewhere: whoever reads a key and whoever writes it must agree, and a
newcomer must be able to see everything Mosaic keeps in Redis by reading this file.
"""

from __future__ import annotations

PREFIX = "mosaic:"

# SET of worker ids ever announced and not yet found dead (the registry prunes it).
WORKERS = PREFIX + "workers"


def worker(worker_id: str) -> str:
    """HASH: the worker's announcement and load (http, media, udp, cpu, pps, participants,
    meetings, draining, started); expires unless the worker's heartbeat rewrites it."""
    return f"{PREFIX}worker:{worker_id}"


def worker_meetings(worker_id: str) -> str:
    """SET of the meeting ids the worker is home of."""
    return f"{PREFIX}worker:{worker_id}:meetings"


def home(meeting_id: str) -> str:
    """STRING: the id of the meeting's home worker."""
    return f"{PREFIX}home:{meeting_id}"


def bus(worker_id: str) -> str:
    """Pub/sub channel a worker reads its messages from. Its subscription is also the proof
    of life: it vanishes the moment the worker's process dies."""
    return f"{PREFIX}bus:{worker_id}"


# -- a room's live state (mosaic.cluster.journal): what must outlive its home worker ----------


def room_people(meeting_id: str) -> str:
    """HASH participant id -> JSON {"hand": raised-at or null, "blocked": [sources a host
    turned off]}; only participants with a hand up or a source turned off."""
    return f"{PREFIX}room:{meeting_id}:people"


def room_departed(meeting_id: str) -> str:
    """HASH participant id -> how it left for good ("left", "denied", "removed"): its resume
    token, still valid for minutes, must not bring it back through a new home."""
    return f"{PREFIX}room:{meeting_id}:departed"


def room_chat(meeting_id: str) -> str:
    """LIST of JSON chat messages, oldest first, the last few hundred, each with its
    ``audience`` (the participant ids it was sent to)."""
    return f"{PREFIX}room:{meeting_id}:chat"


def room_meeting(meeting_id: str) -> str:
    """HASH of meeting-wide live state: ``spotlight`` (JSON list of participant ids)."""
    return f"{PREFIX}room:{meeting_id}:meeting"


def room_all(meeting_id: str) -> tuple[str, ...]:
    """Every key of a room's live state (deleted together when the meeting is over)."""
    return (
        room_people(meeting_id),
        room_departed(meeting_id),
        room_chat(meeting_id),
        room_meeting(meeting_id),
    )


def throttle(name: str, key: str) -> str:
    """HASH: one limit's counts for one source or target (`mosaic.cluster.throttle`), e.g.
    ``mosaic:throttle:{login:addr:192.0.2.7}``; a gate adds ``:slots``, ``:queue`` and
    ``:leases`` (ZSETs) to it. The braces are a Redis Cluster hash tag: a limit's keys share
    a slot, so its Lua script may touch them all. Each expires once its counts have decayed."""
    return f"{PREFIX}throttle:{{{name}:{key}}}"
