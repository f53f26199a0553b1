"""The seam between up tracks and down tracks, and between tracks and the wire.

Four narrow interfaces, in the spirit of Galène's ``upTrack``/``downTrack``:

* `Feed` is all a down track knows of the stream it forwards: "send me your packets from
  now on" (`add_down`, or `wait_keyframe` for video), "I need a keyframe", and "resend this
  sequence number" (answered from the up stream's own packet cache).
* `Sink` is all an up stream knows of a down track: "write this packet", "this number is
  skipped", "start from me now" (a keyframe came), "your feed is gone", and whether it can
  take media at all (`ready`, `awaits_media`).
* `Uplink` is what an up track needs from where its packets come from (a publisher's
  connection, or the receiving end of a relay from another process): keyframe requests and
  NACKs go back through it.
* `Downlink` is what a down track needs from where its packets go (a subscriber's
  connection, or the sending end of a relay).

`Transport` is what the publish and subscribe connections need from the transport bridge,
so that they, and the router, run without sockets in unit tests.

A relay between processes is therefore a down track (a `DownTrack` on a `Downlink` that is
the relay's wire) on one side and an up track (an `UpTrack` fed by the relay's receiving end,
which is its `Uplink`) on the other: the routers on either side never know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from mosaic.media.wire.rtp import RtpHeader


class Uplink(Protocol):
    """Where an up track's packets come from, seen from the track: feedback goes back."""

    def request_keyframe(self, ssrc: int) -> None: ...
    def send_nack(self, ssrc: int, lost: list[int]) -> None: ...


class Downlink(Protocol):
    """Where a down track's packets go, seen from the track."""

    def send_rtp(self, packet: bytes | bytearray) -> None:
        """Send ``packet`` now. It may be a template the caller stamps again right after:
        copy it if it is kept (the bridge copies it once, into its SRTP buffer)."""

    def send_template(self, template: bytearray, now: float) -> None:
        """Send a stamped template (see `wire.rtp.RtpWriter`) of a down track whose receiver
        reads transport-wide sequence numbers (`DownTrack.numbered`): the connection first
        writes its own number into it (hence the template, not a copy), then sends it as
        `send_rtp` does; the template is stamped again for the next one."""

    @property
    def connected(self) -> bool: ...

    @property
    def started(self) -> bool: ...

    def awaits_media(self, now: float) -> bool: ...


class Sink(Protocol):
    """A down track, as an up stream sees it."""

    def write(self, template: bytearray, header: RtpHeader, now: float) -> None:
        """Forward one packet (``template`` is the outgoing packet, its fixed header still
        to be stamped; each sink stamps its own copy in place and sends it at once)."""

    def skip(self, sequence_number: int) -> None:
        """This incoming number will not be forwarded (padding): no gap for it."""

    def start(self, feed: Feed, now: float) -> None:
        """Forward ``feed`` from its next packet on (a keyframe came that it waited for)."""

    def detach(self) -> None:
        """The feed is gone (its publisher left or stopped the source)."""

    @property
    def ready(self) -> bool:
        """Whether packets written now would arrive (the connection is up)."""

    def awaits_media(self, now: float) -> bool:
        """Whether it is up or coming up: a keyframe for it is still worth asking for."""


class Feed(Protocol):
    """An up stream, as a down track sees it."""

    @property
    def clock_rate(self) -> int: ...

    def add_down(self, down: Sink) -> None:
        """Send ``down`` every packet from the next one on."""

    def remove_down(self, down: Sink) -> None: ...

    def wait_keyframe(self, down: Sink) -> None:
        """Start ``down`` (`Sink.start`) at this stream's next keyframe."""

    def cancel_wait(self, down: Sink) -> None: ...

    def catch_up(self, down: Sink, now: float) -> bool:
        """Start ``down`` at once from a fresh cached keyframe, if there is one."""

    def request_keyframe(self, now: float) -> None:
        """A receiver lost its picture: get a keyframe from the publisher."""

    def resend(self, sequence_number: int, now: float) -> tuple[bytearray, RtpHeader] | None:
        """The cached packet ``sequence_number`` as an outgoing template (see `Sink.write`),
        or None when it is no longer cached."""


class Transport(Protocol):
    """What a publish or subscribe connection needs from its transport: the aiortc bridge's
    `MediaTransport` in a server, an in-memory fake in unit tests (tests/helpers/sfu.py)."""

    on_rtp: Callable[[bytes], None]
    on_rtcp: Callable[[bytes], None]
    on_state: Callable[[str], None]

    async def gather(self) -> None: ...

    @property
    def ice_username_fragment(self) -> str: ...

    @property
    def ice_password(self) -> str: ...

    def fingerprints(self) -> list[tuple[str, str]]: ...
    def local_candidates(self) -> list[str]: ...
    async def add_remote_candidate(self, candidate: str | None) -> None: ...

    def start(
        self,
        *,
        remote_ufrag: str,
        remote_pwd: str,
        remote_fingerprints: list[tuple[str, str]],
        ice_controlling: bool,
        dtls_client: bool,
    ) -> None: ...

    @property
    def connected(self) -> bool: ...

    def send_rtp(self, packet: bytes | bytearray) -> None:
        """Encrypt and send now; ``packet`` may be reused by the caller once this returns."""

    def send_rtcp(self, packet: bytes) -> None: ...
    async def close(self) -> None: ...


TransportFactory = Callable[[], Transport]
