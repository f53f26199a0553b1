"""The benchmark harness's pure parts: statistics, /proc readings, the report table."""

from __future__ import annotations

import os

from bench.forwarding import compare, fit
from bench.procstat import sample
from bench.profile import perf_summary
from bench.report import text
from bench.stats import line_fit, percentile


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]
    assert percentile(values, 0.5) == 10.0
    assert percentile(values, 0.95) == 19.0
    assert percentile([], 0.5) is None


def test_the_line_through_cpu_and_packets_gives_marginal_and_fixed_costs() -> None:
    slope, intercept = line_fit([1000, 2000, 4000], [0.03, 0.05, 0.09])  # type: ignore[misc]
    assert abs(slope - 2e-5) < 1e-9
    assert abs(intercept - 0.01) < 1e-9
    assert line_fit([5, 5], [1, 2]) is None


def test_this_process_has_cpu_time_and_memory() -> None:
    now = sample(os.getpid())
    assert now.cpu_s > 0
    assert now.rss_bytes > 10 * 2**20
    assert now.peak_rss_bytes >= now.rss_bytes


def run(server: str, count: int, pps: float, cpu: float, rss: float) -> dict:
    return {
        "server": server, "publishers": count, "packets_per_s": pps, "cpu_per_s": cpu,
        "us_per_packet": cpu / pps * 1e6, "rss_mb": rss, "rss_per_participant_kb": 100.0,
    }  # fmt: skip


def test_ratios_and_fits_compare_the_servers_size_by_size() -> None:
    runs = [
        run("mosaic", 2, 1000, 0.04, 100),
        run("janus", 2, 1000, 0.02, 20),
        run("mosaic", 4, 3000, 0.08, 102),
        run("janus", 4, 3000, 0.04, 21),
    ]
    rows = compare(runs)
    assert [r["publishers"] for r in rows] == [2, 4]
    assert rows[0]["us_per_packet_ratio"] == 2.0
    fits = fit(runs)
    assert fits["mosaic"]["marginal_us_per_packet"] == 20.0
    assert fits["janus"]["marginal_us_per_packet"] == 10.0
    assert fits["marginal_ratio"] == 2.0
    assert fits["mosaic"]["marginal_rss_kb_per_participant"] == 1024.0


def test_the_table_names_every_benchmark_and_a_skipped_janus() -> None:
    runs = [run("mosaic", 2, 1000, 0.04, 100)]
    results = {
        "plan": {"name": "quick"},
        "started_at": "now",
        "environment": {"janus_problem": "janus is not installed"},
        "forwarding": {"runs": runs, "comparison": compare(runs), "fit": fit(runs)},
        "join": {"python": {"trials": 1, "succeeded": 1, "p50_ms": 50.0, "p95_ms": 60.0,
                            "max_ms": 60.0}, "browser": {"skipped": "no chromium"}},
        "failed": {"signaling": "RuntimeError: boom"},
    }  # fmt: skip
    table = text(results)
    assert "Janus skipped: janus is not installed" in table
    assert "Forwarding cost" in table and "Join to first decoded" in table
    assert "signaling: FAILED: RuntimeError: boom" in table
    assert "mosaic A/V" in table


PERF_SCRIPT = """
\tffffffff82046f66 udp_sendmsg ([kernel.kallsyms])
\tffffffff81000130 entry_SYSCALL_64_after_hwframe ([kernel.kallsyms])
\t          10ad0c __libc_sendto (/usr/lib/x86_64-linux-gnu/libc.so.6)

\t          12e269 srtp_stream_list_get (/venv/pylibsrtp/_binding.abi3.so)
\t    7f6d6dfc8b00 [unknown] ([unknown])

\tffffffff821ef691 schedule_hrtimeout_range_clock ([kernel.kallsyms])
\t          10ad00 epoll_wait (/usr/lib/x86_64-linux-gnu/libc.so.6)

\tffffffff82046f66 udp_sendmsg ([kernel.kallsyms])
\t          10ad0c __libc_sendto (/usr/lib/x86_64-linux-gnu/libc.so.6)
"""


def test_perf_samples_split_into_user_and_kernel_and_by_the_call_that_entered_it() -> None:
    summary = perf_summary(PERF_SCRIPT)
    assert summary.startswith("4 samples: user 25.0%, kernel 75.0%")
    assert "  75.0%  kernel" in summary
    assert "  25.0%  _binding.abi3.so" in summary
    assert "  50.0%  __libc_sendto" in summary and "  25.0%  epoll_wait" in summary
    assert "  50.0%  udp_sendmsg [kernel]" in summary
    assert "  50.0%  send (sendto, the kernel's side included)" in summary
    assert "  25.0%  the loop's sleeps and wake-ups (epoll_wait)" in summary
    assert "  25.0%  other (_binding.abi3.so)" in summary
    assert perf_summary("") == "no samples"
