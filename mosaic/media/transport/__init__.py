"""SDP negotiation: a browser's publish offer turned into the SFU's sections, and the SFU's
slots turned into subscribe offers. ICE, DTLS and SRTP themselves are the aiortc bridge's
(`mosaic.rtc.aiortc_bridge`), shared with the client and the bots: the SFU reaches them
through `mosaic.media.sfu.seam.Transport`."""
