"""The render's choices: the active speaker's tile is the large one, and a new speaker takes
over only after holding the floor for a second."""

from __future__ import annotations

from mosaic.recording.render import HOLD_S, SPEECH_RMS, _Speaker, layout


def area(tile: tuple[int, int, int, int]) -> int:
    return tile[2] * tile[3]


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_the_active_speaker_is_shown_larger_than_everyone_else() -> None:
    tiles = layout(["ann", "bob", "cid"], "bob", (1280, 720))
    assert set(tiles) == {"ann", "bob", "cid"}
    assert all(area(tiles["bob"]) > 4 * area(tiles[p]) for p in ("ann", "cid"))
    names = list(tiles)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not overlap(tiles[a], tiles[b])
        x, y, w, h = tiles[a]
        assert x + w <= 1280 and y + h <= 720 and w % 2 == 0 and h % 2 == 0


def test_without_a_speaker_everyone_gets_an_equal_tile() -> None:
    tiles = layout(["ann", "bob", "cid", "dan"], None, (640, 360))
    assert len({area(t) for t in tiles.values()}) == 1


def test_a_new_speaker_takes_over_only_after_holding_the_floor() -> None:
    speaker = _Speaker()
    loud, quiet = SPEECH_RMS * 4, 0.0
    assert speaker.update({"ann": loud, "bob": quiet}, 0.0) == "ann"
    assert speaker.update({"ann": quiet, "bob": loud}, 0.5) == "ann"  # a cough
    assert speaker.update({"ann": loud, "bob": quiet}, 1.0) == "ann"
    for step in range(4):
        t = 1.5 + step * 0.5
        chosen = speaker.update({"ann": quiet, "bob": loud}, t)
    assert chosen == "bob" and t - 1.5 >= HOLD_S
    assert speaker.update({"ann": quiet, "bob": quiet}, 5.0) == "bob"  # silence changes nothing
