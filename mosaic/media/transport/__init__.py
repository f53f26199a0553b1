"""The transport bridge: the one place that knows aiortc and aioice (ICE, DTLS, SRTP),
and the SDP negotiation that turns offers into the SFU's sections and back."""
