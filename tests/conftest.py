from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.helpers import redis as redis_helper
from tests.helpers.api import Account, signup
from tests.helpers.server import MosaicServer

# Fixtures of the Firefox lab (a network namespace, a server and Firefox in it), for any module.
pytest_plugins = ["tests.helpers.firefox_lab"]

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosaicServer]:
    """One shared server; its throttles are lifted because every test joins from 127.0.0.1
    (tests of the throttles start servers of their own, with the real defaults)."""
    running = MosaicServer(
        tmp_path_factory.mktemp("mosaic-data"),
        "--join-rate-per-minute",
        "100000",
        "--join-free-failures",
        "100000",
        "--signups-per-hour",
        "100000",
        "--websockets-per-address",
        "100000",
    ).start()
    yield running
    status = running.stop()
    assert status == 0, running.log[-3000:]


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[object]:
    """Start servers of one's own (with chosen flags); all stopped at the end of the test."""
    started: list[MosaicServer] = []

    def start(*args: str) -> MosaicServer:
        running = MosaicServer(tmp_path / f"data{len(started)}", *args).start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
async def host(server: MosaicServer) -> AsyncIterator[Account]:
    account = await signup(server.url)
    yield account
    await account.client.aclose()


@pytest.fixture
def redis_server() -> Iterator[redis_helper.RedisServer]:
    """A redis-server of the test's own (cluster tests), stopped at the end of the test."""
    reason = redis_helper.unavailable()
    if reason is not None:
        pytest.skip(reason)
    running = redis_helper.RedisServer().start()
    yield running
    running.close()


@pytest.fixture
def compiled_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled forwarding path reachable, also in a run under MOSAIC_PURE_PYTHON=1: for
    tests that compare a compiled lane with its Python twin (`tests.helpers.compiled`)."""
    monkeypatch.delenv("MOSAIC_PURE_PYTHON", raising=False)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """A failing test's report carries the end of the shared server's log."""
    report = yield
    if report.failed and call.when == "call":
        running = item.funcargs.get("server") if hasattr(item, "funcargs") else None
        if isinstance(running, MosaicServer):
            report.sections.append(("mosaic server log (end)", running.log[-6000:]))
    return report
