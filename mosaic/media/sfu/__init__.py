"""The SFU's state: up tracks in, down tracks out, RTP forwarded and never decoded.

Router, offer/answer (negotiation), publish and subscribe peers, up and down tracks and the
seam between them, layer allocation, active speaker, sequence rewriting, packet cache and
reception statistics. Speaks to the network only through the `seam.Transport` interface,
which the aiortc bridge (`mosaic.rtc`) implements."""
