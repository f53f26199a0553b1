"""Mosaic: self-hostable video meetings."""
