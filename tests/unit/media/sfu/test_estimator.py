"""The downlink estimator on a simulated bottleneck (tests/helpers/link.py): a sender that
sends what the estimate allows, a FIFO queue, a link whose capacity changes, random loss,
and a receiver that reports as browsers (transport-wide feedback), the Python client (REMB,
receiver reports) or a bare RTP stack (receiver reports only) do. Every run is seeded and
ticked, so each figure below is exact and a failure replays."""

from __future__ import annotations

import random
import statistics

from mosaic.media.sfu.delay_based import Trendline
from mosaic.media.sfu.estimator import START_BPS, DownlinkEstimator, PacketResult
from tests.helpers.link import LinkSimulator, steps


def test_steady_link_converges_near_capacity_and_stays_within_a_band() -> None:
    capacity = 2_000_000
    sim = LinkSimulator(DownlinkEstimator(), steps((0, capacity)))
    sim.run(40)
    settled = sim.targets(12, 40)
    assert min(settled) >= 0.75 * capacity, min(settled)
    assert max(settled) <= 1.15 * capacity, max(settled)
    assert 0.85 * capacity <= statistics.mean(settled) <= 1.05 * capacity
    # Near capacity without building a standing queue: the delay signal keeps it short.
    assert sim.max_queue_delay(12, 40) < 0.15


def test_step_down_goes_below_the_new_capacity_within_two_seconds() -> None:
    sim = LinkSimulator(DownlinkEstimator(), steps((0, 2_000_000), (15, 500_000)))
    sim.run(25)
    assert sim.targets(14, 15)[-1] > 1_500_000  # it had found the old capacity
    below = sim.first_time(15, lambda s: s.target_bps < 500_000)
    assert below is not None and below - 15 <= 2.0, below
    assert max(sim.targets(18, 25)) <= 1.1 * 500_000


def test_step_up_rises_to_80_percent_of_the_new_capacity_within_ten_seconds() -> None:
    sim = LinkSimulator(DownlinkEstimator(), steps((0, 1_000_000), (15, 2_000_000)))
    sim.run(30)
    assert max(sim.targets(10, 15)) <= 1.1 * 1_000_000  # held under the old capacity
    reached = sim.first_time(15, lambda s: s.target_bps >= 0.8 * 2_000_000)
    assert reached is not None and reached - 15 <= 10.0, reached


def test_random_loss_without_congestion_does_not_push_the_estimate_down() -> None:
    """5 % loss on a link far from full: NACK repairs it, the rate must not back off."""
    sim = LinkSimulator(DownlinkEstimator(), steps((0, 5_000_000)), loss=0.05, seed=7)
    sim.run(30)
    assert sim.queue_drops == 0
    assert 0.04 < sim.random_losses / sim.sent_packets < 0.06
    assert min(sim.targets(0, 30)) >= START_BPS
    assert all(s.state != "decrease" for s in sim.samples)


def test_bufferbloat_growing_delay_without_loss_decreases_before_400_ms_of_queue() -> None:
    """A deep buffer (5 s) never drops: only the delay signal can see the link shrinking
    (2 Mbit/s to 500 kbit/s over 10 s, a Wi-Fi client walking away)."""
    capacity = lambda t: 2e6 if t < 5 else max(5e5, 2e6 - 1.5e5 * (t - 5))  # noqa: E731
    sim = LinkSimulator(DownlinkEstimator(), capacity, queue_s=5.0)
    sim.run(25)
    assert sim.queue_drops == 0 and sim.random_losses == 0
    assert any(s.state == "decrease" for s in sim.samples)
    assert sim.max_queue_delay() < 0.4, sim.max_queue_delay()
    assert max(sim.targets(20, 25)) <= 1.15 * 500_000


def test_remb_is_the_estimate_of_a_receiver_that_sends_only_remb() -> None:
    capacity = steps((0, 2_000_000), (10, 400_000), (20, 3_000_000))
    sim = LinkSimulator(
        DownlinkEstimator(), capacity, feedback="remb", remb=lambda t: 0.9 * capacity(t)
    )
    sim.run(30)
    for sample in sim.samples:
        assert sample.target_bps <= 0.9 * sample.capacity_bps + 1
    down = sim.first_time(10, lambda s: s.target_bps <= 400_000)
    up = sim.first_time(20, lambda s: s.target_bps >= 2_500_000)
    assert down is not None and down - 10 <= 1.5, down
    assert up is not None and up - 20 <= 1.5, up


def test_receiver_report_loss_is_the_last_resort() -> None:
    """A receiver with neither transport feedback nor REMB: its reports' loss fraction
    (about one a second) still brings the rate under a link that shrank."""
    sim = LinkSimulator(
        DownlinkEstimator(), steps((0, 2_000_000), (10, 400_000)), feedback="rr", queue_s=0.1
    )
    sim.run(30)
    below = sim.first_time(10, lambda s: s.target_bps <= 1.1 * 400_000)
    assert below is not None and below - 10 <= 6.0, below
    settled = sim.targets(16, 30)
    assert 0.5 * 400_000 <= statistics.mean(settled) <= 1.2 * 400_000
    assert max(settled) <= 1.3 * 400_000


def test_receiver_report_loss_is_ignored_while_transport_feedback_flows() -> None:
    """Both measure the same loss; transport feedback does it per packet, so a receiver
    report on top (a browser sends both) must not count it twice."""
    estimator = DownlinkEstimator()
    results = [PacketResult(i, i * 0.01, 1000, 0.5 + i * 0.01) for i in range(50)]
    estimator.on_transport_feedback(results, now=0.6)
    before = estimator.target_bps
    estimator.on_receiver_report(0.5, 0.05, now=0.7)
    assert estimator.target_bps >= before


def test_the_estimate_never_leaves_its_bounds() -> None:
    estimator = DownlinkEstimator(min_bps=30_000, max_bps=5_000_000)
    for i in range(40):
        estimator.on_receiver_report(0.9, 0.05, now=i * 1.0)
    assert estimator.target_bps == 30_000
    estimator.on_remb(50_000_000, now=41.0)
    estimator.probe_result(50_000_000, now=41.0)
    assert estimator.target_bps <= 5_000_000


def test_an_app_limited_sender_is_not_promised_more_than_it_tried() -> None:
    """An SFU forwards what the chosen layers carry, often far below the link: the estimate
    may run ahead of that by half at most, or a viewer would be moved up to a layer the link
    was never shown to carry."""
    sim = LinkSimulator(
        DownlinkEstimator(start_bps=300_000),
        steps((0, 5_000_000)),
        send_bps=lambda t, target: min(target, 300_000),
    )
    sim.run(20)
    assert max(sim.targets(0, 20)) <= 1.5 * 300_000 + 10_000 + 20_000


def _probing_sim(capacity_bps: float) -> LinkSimulator:
    """An SFU forwarding 300 kbit/s of layers, probing 1.2 Mbit/s more from 10 s to 11 s."""
    return LinkSimulator(
        DownlinkEstimator(start_bps=300_000),
        steps((0, capacity_bps)),
        send_bps=lambda t, target: 300_000 + (1_200_000 if 10 <= t < 11 else 0),
    )


def test_a_probe_the_link_carries_earns_its_rate_at_once() -> None:
    """Probing (padding or retransmissions above the layers' rate for a second) is how the
    estimate earns a step up: what the receiver got without the queue growing becomes the
    estimate, instead of climbing 8 % a second."""
    sim = _probing_sim(5_000_000)
    sim.run(11.2)
    assert sim.targets(9, 10)[-1] < 600_000
    assert sim.estimator.target_bps >= 1_000_000


def test_probe_result_lifts_the_estimate_to_a_measured_probe() -> None:
    """For a prober that measures its probe itself (libwebrtc's probe clusters)."""
    sim = _probing_sim(5_000_000)
    sim.run(9)
    sim.estimator.probe_result(1_500_000, now=9.0)
    assert sim.estimator.target_bps == 1_500_000


def test_the_running_trendline_matches_a_direct_regression_after_hours() -> None:
    """The slope is kept from running sums whose time origin moves now and then; after
    hours of groups it must still be the regression of the last window, computed afresh."""
    rng = random.Random(3)
    trend = Trendline()
    points: list[tuple[float, float]] = []
    smoothed = accumulated = 0.0
    arrival = 3600.0 * 5
    slope = None
    # About two hours of 30 groups a second, ending a few groups after the origin moved.
    for _ in range(1024 * 195 + 5):
        arrival += 1 / 30 + rng.uniform(-0.005, 0.005)
        variation = rng.gauss(0.2, 2.0)
        slope = trend.update(variation, arrival)
        accumulated += variation
        smoothed = 0.9 * smoothed + 0.1 * accumulated
        points = [*points[-19:], (arrival * 1000.0, smoothed)]
    mean_x = statistics.mean(x for x, _ in points)
    mean_y = statistics.mean(y for _, y in points)
    expected = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum(
        (x - mean_x) ** 2 for x, _ in points
    )
    assert slope is not None and abs(slope - expected) < 1e-6 * max(1.0, abs(expected))


def test_an_idle_pause_does_not_read_as_a_slow_link() -> None:
    """With every video paused and nobody speaking the SFU sends nothing for a while; the
    rate the receiver gets right after is the link's, not a window stretched over the pause."""
    sim = LinkSimulator(
        DownlinkEstimator(),
        steps((0, 1_000_000)),
        send_bps=lambda t, target: 0 if 10 <= t < 13 else target,
    )
    sim.run(10)
    before = sim.estimator.delivered_bps
    assert before is not None
    while sim.run(sim.now + 0.05) or sim.now < 14:
        after = sim.estimator.delivered_bps
        assert after is not None and after >= 0.9 * before, (sim.now, before, after)


def test_a_probe_that_lost_packets_earns_nothing() -> None:
    """A policer drops what exceeds its rate without queueing: no delay grows, but the loss
    reading after the probe says the link did not carry it."""
    estimator = DownlinkEstimator()
    estimator.on_receiver_report(0.0, 0.05, now=0.0)
    estimator.on_receiver_report(0.4, 0.05, now=1.0)
    before = estimator.target_bps
    estimator.probe_result(2_000_000, now=1.1)
    assert estimator.target_bps == before < 1_000_000


def test_a_receiver_that_stops_sending_remb_is_not_held_to_its_last_one() -> None:
    """aiortc computes its REMB from the video it receives: while every video is paused it
    sends none, and its last one (said of a squeezed link) must not cap the rate for good."""
    capacity = steps((0, 100_000), (10, 2_000_000))
    sim = LinkSimulator(
        DownlinkEstimator(),
        capacity,
        feedback="remb",
        rr=True,
        remb=lambda t: 90_000 if t < 10 else None,
    )
    sim.run(25)
    assert max(sim.targets(5, 10)) <= 90_000
    assert sim.targets(24, 25)[-1] >= 150_000


def test_a_probe_the_link_cannot_carry_costs_no_more_than_the_usual_back_off() -> None:
    """A viewer paused on a 200 kbit/s link (only 40 kbit/s of audio flowing) is probed at
    250 kbit/s: the overuse it causes cuts to 0.85 x what the link delivered (twice while it
    lasts), not to 0.85 x a delivered rate still averaged with the quiet before the probe."""
    sim = LinkSimulator(
        DownlinkEstimator(start_bps=170_000),
        steps((0, 200_000)),
        queue_s=1.0,
        send_bps=lambda t, target: 250_000 if 10 <= t < 11 else 40_000,
    )
    sim.run(13)
    assert any(s.state == "decrease" for s in sim.samples if s.time >= 10)
    assert min(sim.targets(10, 13)) >= 0.7 * 200_000  # 0.85 x 0.85: it overused twice


def _rembs(estimator: DownlinkEstimator, rembs: list[tuple[float, int, float]]) -> None:
    for now, bps, sent in rembs:
        estimator.on_remb(bps, now, sent)


def test_a_remb_that_fell_well_under_what_was_sent_and_stays_there_is_congestion() -> None:
    """aiortc through a queue: no loss reported, no transport feedback; its REMB falls to
    0.85 x what it receives (the link's 200 kbit/s) while 600 kbit/s are sent."""
    estimator = DownlinkEstimator()
    _rembs(estimator, [(0.0, 900_000, 600_000), (0.5, 900_000, 600_000)])
    assert estimator.last_decrease == float("-inf")
    _rembs(estimator, [(1.0, 170_000, 600_000), (1.5, 180_000, 600_000)])
    assert estimator.last_decrease == float("-inf")  # one second first: not a blip
    _rembs(estimator, [(2.0, 190_000, 600_000)])
    assert estimator.last_decrease == 2.0
    assert estimator.target_bps == 190_000


def test_a_loaded_machine_lowering_aiortc_remb_on_a_clean_link_is_not_congestion() -> None:
    """A loaded machine makes aiortc see overuse: its REMB drops to 0.85 x what it receives,
    which on a clean link is what was sent."""
    estimator = DownlinkEstimator()
    rembs = [(t * 0.5, 900_000 if t % 6 else 510_000, 600_000) for t in range(40)]
    _rembs(estimator, rembs)
    assert estimator.last_decrease == float("-inf")


def test_a_remb_lagging_behind_a_stream_that_grew_is_not_congestion() -> None:
    """A viewer moved up to a bigger layer on a clean link: aiortc's REMB climbs 8 % a
    second from the old rate, far under what is sent now, without ever falling."""
    estimator = DownlinkEstimator()
    rembs = [(t * 0.5, int(150_000 * 1.04**t), 1_000_000) for t in range(40)]
    _rembs(estimator, rembs)
    assert estimator.last_decrease == float("-inf")
