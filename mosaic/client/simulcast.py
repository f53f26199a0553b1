"""A camera sent in several layers, as the web client sends its own (RFC 8853 simulcast).

The SFU picks, per viewer, the smallest layer that fills the viewer's tile (see
`mosaic.media.sfu.simulcast`), so a meeting of many small tiles costs a fraction of one of
full-size ones; a client that wants that choice exercised (the bots, under load) publishes its
camera as a `Simulcast`. aiortc has no simulcast: the offer is written as a browser writes it
(one video m-section with ``a=rid:<id> send`` per layer, ``a=simulcast:send q;h;f`` and the
rid header extension) and `mosaic.rtc.aiortc_bridge.send_simulcast` sends the layers.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import MediaStreamTrack

from mosaic.rtc.aiortc_bridge import SDES_RID

# The rid extension's id in our offers: aiortc numbers mid 1 and abs-send-time 3 (video),
# audio-level 2 (audio); one-byte header ids go up to 14.
RID_EXTENSION_ID = 10


@dataclass(frozen=True)
class Simulcast:
    """One camera as layers, rid -> track, smallest first: the web client's ``q``, ``h``,
    ``f`` (a quarter, half and full size). The last layer travels on the transceiver's own
    sender; the others on senders of their own (see the module docstring)."""

    layers: dict[str, MediaStreamTrack]

    def __post_init__(self) -> None:
        if not self.layers:
            raise ValueError("a simulcast camera needs at least one layer")

    @property
    def top(self) -> tuple[str, MediaStreamTrack]:
        """The largest layer: (rid, track)."""
        rid = list(self.layers)[-1]
        return rid, self.layers[rid]

    @property
    def others(self) -> dict[str, MediaStreamTrack]:
        """Every layer but the largest."""
        top, _ = self.top
        return {rid: track for rid, track in self.layers.items() if rid != top}

    def stop(self) -> None:
        for track in self.layers.values():
            track.stop()


def simulcast_offer(sdp: str, rids_of: dict[str, list[str]]) -> str:
    """aiortc's offer with the m-section of each mid in ``rids_of`` declaring those layers,
    as a browser's simulcast offer does: the rid header extension, ``a=rid:<id> send`` per
    layer, ``a=simulcast:send`` with all of them (smallest first, as Mosaic's web client
    lists them). Other sections are left as they are."""
    head, *sections = sdp.split("\r\nm=")
    written = [head]
    for section in sections:
        mid = next((line[6:] for line in section.split("\r\n") if line.startswith("a=mid:")), None)
        rids = rids_of.get(mid or "")
        if rids:
            extra = [f"a=extmap:{RID_EXTENSION_ID} {SDES_RID}"]
            extra += [f"a=rid:{rid} send" for rid in rids]
            extra.append(f"a=simulcast:send {';'.join(rids)}")
            body = section.rstrip("\r\n")
            ending = "\r\n" if section != body else ""
            written.append(body + "\r\n" + "\r\n".join(extra) + ending)
        else:
            written.append(section)
    return "\r\nm=".join(written)
