"""The results as a plain-text table (what ``make bench`` prints) and as JSON on disk."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.e2ee import lines as e2ee_lines
from bench.instructions import lines as instructions_lines
from bench.large import lines as large_lines

RESULTS = Path(__file__).resolve().parent / "results"


def write(results: dict[str, Any], folder: Path = RESULTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.json"
    path.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    return path


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [headers, *[[_cell(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [" | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def forwarding_lines(section: dict[str, Any]) -> list[str]:
    runs = {(r["server"], r["publishers"]): r for r in section["runs"]}
    ratios = {row["publishers"]: row for row in section["comparison"]}
    rows = []
    for count in sorted({r["publishers"] for r in section["runs"]}):
        mosaic, janus = runs.get(("mosaic", count), {}), runs.get(("janus", count), {})
        rows.append(
            [
                count,
                mosaic.get("packets_per_s"),
                mosaic.get("cpu_per_s"),
                mosaic.get("us_per_packet"),
                janus.get("packets_per_s"),
                janus.get("cpu_per_s"),
                janus.get("us_per_packet"),
                ratios.get(count, {}).get("us_per_packet_ratio"),
            ]
        )
    lines = [
        "Forwarding cost (server CPU per packet received by subscribers)",
        *_table(
            [
                "publishers",
                "Mosaic pkt/s",
                "CPU-s/s",
                "us/pkt",
                "Janus pkt/s",
                "CPU-s/s",
                "us/pkt",
                "Mosaic/Janus",
            ],
            rows,
        ),
    ]
    fit = section.get("fit", {})
    for name in ("mosaic", "janus"):
        if name in fit:
            lines.append(
                f"  {name}: marginal {fit[name]['marginal_us_per_packet']} us/packet,"
                f" fixed {fit[name]['intercept_cpu_per_s']} CPU-s/s;"
                f" memory {fit[name]['marginal_rss_kb_per_participant']} KB per extra participant"
            )
    if fit.get("marginal_ratio") is not None:
        lines.append(f"  marginal cost ratio Mosaic/Janus: {fit['marginal_ratio']}")
    return lines


def memory_lines(results: dict[str, Any]) -> list[str]:
    rows = []
    for run in results.get("forwarding", {}).get("runs", []):
        rows.append(
            [
                f"{run['server']} A/V",
                run["publishers"],
                run["rss_mb"],
                run["rss_per_participant_kb"],
            ]
        )
    for run in results.get("signaling", {}).get("runs", []):
        rows.append(
            ["mosaic signaling", run["participants"], run["rss_mb"], run["rss_per_participant_kb"]]
        )
    if not rows:
        return []
    return [
        "Memory (server RSS)",
        *_table(["kind", "participants", "RSS MB", "KB/participant"], rows),
    ]


def join_lines(section: dict[str, Any]) -> list[str]:
    rows = []
    for client in ("python", "browser"):
        figures = section.get(client, {})
        if "skipped" in figures:
            rows.append([client, "skipped", "-", "-", "-"])
        else:
            rows.append(
                [
                    client,
                    f"{figures['succeeded']}/{figures['trials']}",
                    figures["p50_ms"],
                    figures["p95_ms"],
                    figures["max_ms"],
                ]
            )
    return [
        "Join to first decoded remote video frame (Mosaic)",
        *_table(["client", "ok", "p50 ms", "p95 ms", "max ms"], rows),
    ]


def signaling_lines(section: dict[str, Any]) -> list[str]:
    rows = [
        [
            r["participants"],
            f"{r['saw_everyone']}/{r['participants']}",
            r["storm_s"],
            r["server_cpu_s"],
            r["server_cpu_ms_per_join"],
            r["frames_per_join"],
            r["busiest_second_frames_per_client"],
            r["roster_delay_p50_ms"],
            r["roster_delay_p95_ms"],
        ]
        for r in section["runs"]
    ]
    return [
        "Join storm (signaling only, Mosaic)",
        *_table(
            [
                "people",
                "saw all",
                "storm s",
                "CPU s",
                "CPU ms/join",
                "frames/join",
                "peak frames/client/s",
                "roster p50 ms",
                "p95 ms",
            ],
            rows,
        ),
    ]


def adaptation_lines(result: dict[str, Any]) -> list[str]:
    if "skipped" in result:
        return [f"Adaptation: skipped ({result['skipped']})"]
    lines = [
        f"Adaptation (Chromium viewer, downlink to {result['squeeze_kbps']} kbit/s and back;"
        f" {result['trials']} trials; not timed: {result['failed']}; layers {result['layers']})"
    ]
    for name, label in (
        ("adapt", "squeeze -> first lower-layer frame"),
        ("recover", "restore -> first wanted-layer frame"),
    ):
        row = result[name]
        lines.append(
            f"  {label}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, max {row['max_ms']} ms"
        )
    return lines


def text(results: dict[str, Any]) -> str:
    lines = [f"Mosaic benchmarks ({results['plan']['name']} plan, {results['started_at']})"]
    env = results["environment"]
    if env.get("janus_problem"):
        lines.append(f"!! Janus skipped: {env['janus_problem']}")
    for key, render in (
        ("forwarding", forwarding_lines),
        ("join", join_lines),
        ("signaling", signaling_lines),
        ("adaptation", adaptation_lines),
        ("instructions", instructions_lines),
        ("e2ee", e2ee_lines),
        ("large", large_lines),
    ):
        if key in results:
            lines += ["", *render(results[key])]
        elif key in results.get("failed", {}):
            lines += ["", f"{key}: FAILED: {results['failed'][key]}"]
    memory = memory_lines(results)
    if memory:
        lines += ["", *memory]
    return "\n".join(lines)
