"""Settings from flags and the environment, as an operator writes them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from mosaic.config import Settings, add_arguments, settings_from


def settings(*argv: str, **environ: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return settings_from(parser.parse_args(argv), environ)


def test_defaults_serve_localhost_on_sqlite() -> None:
    s = settings()
    assert s.base_url == "http://127.0.0.1:8080"
    assert s.db_url.startswith("sqlite+aiosqlite:///") and s.db_url.endswith("mosaic.db")


def test_list_flags_repeat_and_split_on_commas() -> None:
    s = settings(
        "--public-ip", "203.0.113.7", "--public-ip", "198.51.100.2,2001:db8::1",
        "--turn-url", "turn:t.example:3478?transport=udp", "--turn-urls", "turns:t.example:5349",
    )  # fmt: skip
    assert s.public_ips == ["203.0.113.7", "198.51.100.2", "2001:db8::1"]
    assert s.turn_urls == ["turn:t.example:3478?transport=udp", "turns:t.example:5349"]


def test_flags_win_over_the_environment() -> None:
    s = settings("--port", "9000", MOSAIC_PORT="7000", MOSAIC_PUBLIC_IPS="192.0.2.1, 192.0.2.2")
    assert s.port == 9000
    assert s.public_ips == ["192.0.2.1", "192.0.2.2"]


def test_tls_makes_the_base_url_https() -> None:
    s = settings("--tls-cert", "c.pem", "--tls-key", "k.pem", "--host", "::1")
    assert s.base_url == "https://[::1]:8080" and s.secure
    assert s.tls_cert == Path("c.pem")


def test_a_bad_value_is_refused() -> None:
    with pytest.raises(ValueError):
        settings(MOSAIC_REQUIRE_PASSCODE="maybe")
    with pytest.raises(SystemExit):
        settings("--port", "eighty")
