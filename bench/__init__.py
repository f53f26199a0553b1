"""Mosaic's benchmarks, side by side with Janus: ``python -m bench`` (``make bench``).

See docs/performance.md for what each one measures and the latest figures."""
