"""For the tests of one compiled lane of the forwarding path against its Python twin."""

from __future__ import annotations

import pytest

from mosaic.rtc import fastpath

# The module's tests compare the compiled lane with the Python code: where the extension is
# not built there is nothing to compare (the pure path is then the only one, and its own
# tests run), and under MOSAIC_PURE_PYTHON=1 the lane must still be reachable
# (`compiled_path`, tests/conftest.py).
compiled_lane = [
    pytest.mark.skipif(
        fastpath._fastpath is None, reason="mosaic.rtc._fastpath is not built (no C compiler?)"
    ),
    pytest.mark.usefixtures("compiled_path"),
]
