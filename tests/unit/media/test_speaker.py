from mosaic.media.speaker import SpeakerDetector

LOUD, QUIET = 20, 127


def feed(detector: SpeakerDetector, levels: dict[str, int], start: float, seconds: float) -> float:
    now = start
    while now < start + seconds:
        for source, level in levels.items():
            detector.level(source, level, now)
        now += 0.02
        if round(now * 50) % 10 == 0:
            detector.tick(now)
    return now


def test_the_one_who_talks_becomes_dominant() -> None:
    detector = SpeakerDetector()
    feed(detector, {"ann": LOUD, "bob": QUIET}, 0.0, 3.0)
    assert detector.dominant == "ann"


def test_a_cough_does_not_take_the_floor() -> None:
    detector = SpeakerDetector()
    now = feed(detector, {"ann": LOUD, "bob": QUIET}, 0.0, 3.0)
    now = feed(detector, {"ann": LOUD, "bob": LOUD}, now, 0.3)
    feed(detector, {"ann": LOUD, "bob": QUIET}, now, 1.0)
    assert detector.dominant == "ann"


def test_silence_keeps_the_last_speaker_and_a_new_talker_takes_over() -> None:
    detector = SpeakerDetector()
    now = feed(detector, {"ann": LOUD, "bob": QUIET}, 0.0, 3.0)
    now = feed(detector, {"ann": QUIET, "bob": QUIET}, now, 3.0)
    assert detector.dominant == "ann"
    feed(detector, {"ann": QUIET, "bob": LOUD}, now, 3.0)
    assert detector.dominant == "bob"


def test_loudest_ranks_by_recent_activity() -> None:
    detector = SpeakerDetector()
    feed(detector, {"a": QUIET, "b": LOUD, "c": 45}, 0.0, 2.0)
    assert detector.loudest(2, 2.0) == ["b", "c"]
