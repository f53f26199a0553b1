"""Mosaic's Python client: join a meeting like a browser does (tests, bots, benchmarks)."""

from mosaic.client.participant import Participant, join, parse_join_url
from mosaic.client.signaling import SignalingClient, SignalingError

__all__ = ["Participant", "SignalingClient", "SignalingError", "join", "parse_join_url"]
