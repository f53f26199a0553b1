"""The E2EE benchmark's comparison: encrypted over plain, per meeting size, only where both ran."""

from __future__ import annotations

from bench.e2ee import compare, lines


def _run(server: str, publishers: int, us: float, pps: float) -> dict[str, object]:
    return {
        "server": server,
        "publishers": publishers,
        "us_per_packet": us,
        "packets_per_s": pps,
        "all_receiving": True,
    }


def test_encrypted_over_plain_per_size_where_both_ran() -> None:
    runs = [
        _run("mosaic", 4, 20.0, 1000.0),
        _run("mosaic-e2ee", 4, 21.0, 1000.0),
        _run("mosaic", 8, 15.0, 4000.0),  # its encrypted run failed: no row
    ]
    rows = compare(runs)
    assert rows == [
        {
            "publishers": 4,
            "us_per_packet_ratio": 1.05,
            "packets_per_s_ratio": 1.0,
            "all_receiving": True,
        }
    ]
    assert "4 publishers: us/packet x1.05" in "\n".join(lines({"comparison": rows}))
