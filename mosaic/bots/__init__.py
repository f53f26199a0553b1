"""Bots for load tests and benchmarks: participants that publish pre-encoded media (replayed
packet for packet, so a bot costs almost no CPU) and count what they receive, in a Mosaic
meeting (`MosaicBot`) or a Janus VideoRoom (`JanusBot`). ``mosaic bots`` runs them."""
