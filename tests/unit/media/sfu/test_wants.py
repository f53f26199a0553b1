"""A slice's want sets (`mosaic.media.sfu.wants`): counted per track from view changes, so a
page flip costs its own tiles whatever the meeting's size, and marks only the workers whose
share changed."""

from __future__ import annotations

import time

from mosaic.domain.roster import Source
from mosaic.media.sfu.wants import PeerWants, ViewerWants

CAM = Source.CAMERA


def _page(first: int, tiles: int = 49) -> list[tuple[str, Source, int, int]]:
    return [(f"p{n}", CAM, 160, 90) for n in range(first, first + tiles)]


def test_a_track_is_wanted_while_one_viewer_shows_it_and_only_of_its_worker() -> None:
    wants = ViewerWants("b")
    wants.place({"ann": "a", "bob": "c", "sam": "b"})
    wants.view("sam", [("ann", CAM, 320, 180), ("bob", CAM, 320, 180)])
    wants.view("sid", [("ann", CAM, 320, 180)])
    assert wants.take({"a", "c"}) == {"a", "c"}
    assert wants.message("a")["tracks"] == [["ann", "camera"]]
    assert wants.message("c")["tracks"] == [["bob", "camera"]]
    wants.view("sam", [])  # Sid still shows Ann: A hears nothing new; C loses its only want
    assert wants.take({"a", "c"}) == {"c"}
    assert wants.message("c")["tracks"] == []
    wants.view("sid", [])
    assert wants.take({"a", "c"}) == {"a"} and wants.message("a")["tracks"] == []


def test_a_page_flip_among_a_thousand_viewers_costs_its_own_tiles() -> None:
    """1,000 participants on four workers, 1,000 viewers here on pages of 49: one viewer's
    flip touches 98 counts and marks only the workers whose share changed."""
    wants = ViewerWants("home")
    wants.place({f"p{n}": f"w{n // 250}" for n in range(1000)})
    for viewer in range(1000):
        wants.view(f"v{viewer}", _page(0))  # everyone on page 1 (all of it on w0)
    wants.take({"w0", "w1", "w2", "w3"})
    started = time.perf_counter()
    wants.view("v7", _page(245))  # p245..p293: the end of w0's share and the start of w1's
    flip = time.perf_counter() - started
    assert wants.take({"w0", "w1", "w2", "w3"}) == {"w0", "w1"}  # not w2, w3
    assert len(wants.message("w1")["tracks"]) == 44  # p250..p293
    assert len(wants.message("w0")["tracks"]) == 49 + 5  # page 1 (others show it), p245..p249
    wants.view("v8", _page(245))  # a second viewer on the same page: no worker's set changes
    assert wants.take({"w0", "w1", "w2", "w3"}) == set()
    assert flip < 0.01  # microseconds in fact; the bound only catches a scan of everything


def test_a_viewer_that_said_nothing_makes_the_slice_ask_for_the_first_few() -> None:
    wants = ViewerWants("b")
    wants.view("sam", None)
    assert wants.take({"a"}) == {"a"} and wants.message("a")["default"] is True
    wants.view("sam", [("ann", CAM, 320, 180)])
    assert wants.take({"a"}) == {"a"} and wants.message("a")["default"] is False


def test_a_publisher_that_moves_is_asked_of_its_new_worker() -> None:
    wants = ViewerWants("b")
    wants.place({"ann": "a"})
    wants.view("sam", [("ann", CAM, 320, 180)])
    wants.take({"a", "c"})
    wants.place({"ann": "c"})  # worker A died, Ann came back on C
    assert wants.take({"a", "c"}) == {"a", "c"}
    assert wants.message("c")["tracks"] == [["ann", "camera"]]
    assert wants.message("a")["tracks"] == []


def test_a_want_message_is_read_field_by_field() -> None:
    good = {"type": "want", "all": False, "default": True, "tracks": [["ann", "camera"]]}
    assert PeerWants.parse(good) == PeerWants(False, True, frozenset({("ann", CAM)}))
    for bad in (
        {**good, "all": 1},
        {**good, "default": None},
        {**good, "tracks": "ann"},
        {**good, "tracks": [["ann"]]},
        {**good, "tracks": [["ann", "fax"]]},
        {**good, "tracks": [["ann", ["camera"]]]},
        {**good, "tracks": [[7, "camera"]]},
        {**good, "tracks": [["x" * 201, "camera"]]},
        {**good, "tracks": [["ann", "camera"]] * 10_001},
    ):
        assert PeerWants.parse(bad) is None
