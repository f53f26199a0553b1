"""How long and how big each benchmark runs: the full plan for ``make bench`` (about ten
minutes on a 2-core machine) and a tiny one that only proves the harness works."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    name: str = "full"
    # Forwarding: meeting sizes, and per run the idle sample, warm-up and measured window.
    sizes: tuple[int, ...] = (2, 4, 8, 12)
    idle_s: float = 2.0
    warmup_s: float = 3.0
    window_s: float = 15.0
    media_timeout_s: float = 20.0
    # Join latency: trials per client kind.
    python_trials: int = 12
    browser_trials: int = 8
    # Signaling: join storms, and how many early joiners time everyone else's arrival.
    storm_sizes: tuple[int, ...] = (250, 500, 1000)
    observers: int = 10
    storm_concurrency: int = 32
    # Adaptation: squeeze-and-restore trials of a Chromium viewer's downlink.
    adaptation_trials: int = 10
    # Cluster (bench.cluster): 4-person meetings per load step, the measured window, pings for
    # the round trip, kill -9 trials, and which parts run.
    cluster_meetings: tuple[int, ...] = (1, 2, 4, 6, 8)
    cluster_window_s: float = 8.0
    cluster_pings: int = 50
    failover_trials: int = 10
    cluster_parts: tuple[str, ...] = ("scaling", "cost", "failover")
    # End-to-end encryption's server cost (bench.e2ee): meeting sizes, plain and encrypted.
    e2ee_sizes: tuple[int, ...] = (4, 8)
    # The largest meeting at >= 24 fps per viewed tile (bench.large): (people, cameras on)
    # per step, grown until the target fails; speakers (microphone on); warm-up and window.
    large_steps: tuple[tuple[int, int], ...] = (
        (16, 4), (24, 6), (32, 8), (40, 10), (48, 12), (64, 16), (80, 20), (96, 24), (128, 32),
    )  # fmt: skip
    large_speakers: int = 3
    large_warmup_s: float = 3.0
    large_window_s: float = 10.0
    benches: tuple[str, ...] = field(
        default=(
            "forwarding", "join", "signaling", "adaptation", "cluster", "instructions", "e2ee",
            "large",
        )
    )  # fmt: skip

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


FULL = Plan()
QUICK = Plan(
    name="quick",
    sizes=(2,),
    idle_s=0.5,
    warmup_s=0.5,
    window_s=1.5,
    media_timeout_s=15.0,
    python_trials=2,
    browser_trials=1,
    storm_sizes=(20,),
    observers=3,
    storm_concurrency=8,
    adaptation_trials=1,
    cluster_meetings=(1,),
    cluster_window_s=1.5,
    cluster_pings=5,
    failover_trials=1,
    e2ee_sizes=(2,),
    large_steps=((6, 2),),
    large_warmup_s=1.0,
    large_window_s=3.0,
    # Adaptation needs two Chromium pages and tens of seconds even for one trial: the quick
    # plan (the test suite's smoke run) leaves it out; `--quick --only adaptation` runs it.
    benches=("forwarding", "join", "signaling"),
)
