from mosaic.media.sfu.statistics import ReceptionStats, UplinkEstimate


def test_loss_is_counted_across_the_wrap() -> None:
    stats = ReceptionStats(90000)
    for seq in (65530, 65531, 65533, 65535, 0, 2):
        stats.update(seq, 0, 0.0, 100)
    block, fraction = stats.report_block(1, 1.0)
    assert block.packets_lost == 3
    assert stats.expected == 9
    assert round(fraction, 2) == 0.33
    assert block.highest_sequence == 65536 + 2


def test_dlsr_counts_from_the_last_sender_report() -> None:
    stats = ReceptionStats(90000)
    stats.update(1, 0, 0.0, 100)
    stats.sender_report(0x0001_2345_6789_0000, 10.0)
    block, _ = stats.report_block(1, 10.5)
    assert block.lsr == 0x2345_6789
    assert block.dlsr == 32768


def test_uplink_estimate_grows_without_loss_and_shrinks_with_it() -> None:
    estimate = UplinkEstimate(bitrate=1_000_000)
    assert estimate.on_loss(0.0) > 1_000_000
    before = estimate.bitrate
    assert estimate.on_loss(0.05) == before
    assert estimate.on_loss(0.3) < before
