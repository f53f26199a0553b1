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


def test_worker_capacity_from_flag_or_environment() -> None:
    from mosaic.config import DEFAULT_WORKER_CAPACITY

    assert settings().worker_capacity == DEFAULT_WORKER_CAPACITY
    assert settings("--worker-capacity", "2").worker_capacity == 2
    assert settings(MOSAIC_WORKER_CAPACITY="7").worker_capacity == 7


def test_a_worker_capacity_under_one_is_refused_with_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for bad in ("0", "-3", "many"):
        with pytest.raises(SystemExit):
            settings("--worker-capacity", bad)
        assert "--worker-capacity" in capsys.readouterr().err
    with pytest.raises(ValueError, match="at least 1"):
        settings(MOSAIC_WORKER_CAPACITY="0")
