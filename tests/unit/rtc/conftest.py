"""Every async test of the media transports and the compiled path runs on both event loops
`mosaic serve` may use (`mosaic.event_loop`): asyncio's own, its default, and uvloop, which
an operator may choose. The two differ in how a datagram reaches the
protocol and how a refused one is reported; both must forward the same."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from mosaic.event_loop import LoopFactory, loop_factory


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, LoopFactory]:
    return {name: loop_factory(name) for name in ("asyncio", "uvloop")}
