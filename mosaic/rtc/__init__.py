"""The bridge to aiortc and aioice, shared by every Mosaic program that speaks WebRTC.

Not a server package: the server's media plane (`mosaic.media`), the Python client
(`mosaic.client`) and the bots (`mosaic.bots`) all build on it, and it imports nothing of
theirs (only the pure wire formats of `mosaic.media.wire`). `aiortc_bridge` is the one module
of Mosaic that touches aiortc's and aioice's internals (pinned versions, checked by
`tests/unit/rtc/test_aiortc_bridge.py`; `tests/unit/test_aiortc_surface.py` fails when
another module starts to); `demux` sorts what arrives on a media socket before any parser
sees it."""
