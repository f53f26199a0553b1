"""Recordings on disk: frames put together from RTP payloads, WebM files written with PyAV's
muxer as packets come (never transcoded), the manifest, and the offline render.

Imports only `mosaic.media.wire` of ours (and PyAV): the SFU's recorder
(`mosaic.media.sfu.recorder`) drives it, and the CLI's render reads what it wrote.
"""
