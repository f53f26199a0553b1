"""Media: wire formats (`wire`), SDP negotiation (`transport`) and the SFU's state (`sfu`).

Each package may import only those before it in that list: wire formats know nothing of
state or sockets, negotiation knows nothing of the SFU's state. ICE, DTLS and SRTP are the
aiortc bridge's (`mosaic.rtc`, shared with the client and the bots); the SFU reaches them only
through its narrow `Transport` interface (`sfu.seam`). `tests/unit/test_import_rules.py`
holds every package to these rules."""
