from __future__ import annotations

from pathlib import Path

from mosaic.security.signing import Signer, load_or_create_key


def test_key_is_created_once_and_private(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path)
    assert load_or_create_key(tmp_path) == key
    assert (tmp_path / "server.key").stat().st_mode & 0o077 == 0


def test_signed_payload_round_trips_until_it_expires() -> None:
    signer = Signer(b"k" * 32, "device")
    token = signer.sign({"device": "abc"}, ttl_s=10, now=1000)
    assert signer.verify(token, now=1005) == {"device": "abc"}
    assert signer.verify(token, now=1011) is None


def test_forged_altered_or_foreign_tokens_are_refused() -> None:
    signer = Signer(b"k" * 32, "device")
    token = signer.sign({"device": "abc"}, ttl_s=10, now=1000)
    body, mac = token.split(".")
    assert signer.verify(body + "." + mac[:-2] + "AA", now=1001) is None
    assert Signer(b"k" * 32, "resume").verify(token, now=1001) is None
    assert Signer(b"x" * 32, "device").verify(token, now=1001) is None
    for garbage in ("", ".", "a.b", "!!.??", "a" * 5000, token + ".x"):
        assert signer.verify(garbage, now=1001) is None
