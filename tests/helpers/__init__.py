"""Shared test helpers: a real Mosaic server in a subprocess, and REST shortcuts."""
