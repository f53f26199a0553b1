"""Protections shared by the REST API and signaling: secret hashing and guessing throttles."""
