"""Media: wire formats (`wire`) and the SFU's state (`sfu`).

Wire formats know nothing of state or sockets, and import no other media package. ICE, DTLS
and SRTP are the aiortc bridge's (`mosaic.rtc`, shared with the client and the bots); the SFU
reaches them only through its narrow `Transport` interface (`sfu.seam`).
`tests/unit/test_import_rules.py` holds every package to these rules."""
