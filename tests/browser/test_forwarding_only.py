"""The SFU forwards packets: no decoder and no encoder is ever created on the server."""

from __future__ import annotations

import threading
from pathlib import Path

import aiortc.codecs
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest

from tests.browser.conftest import PageFactory
from tests.browser.meeting import decoding_from, enter
from tests.helpers.api import signup
from tests.helpers.inprocess import serve_in_process
from tests.helpers.waiting import wait_until


async def test_the_server_never_decodes_or_encodes(
    new_page: PageFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[str] = []

    def forbidden(name: str):  # type: ignore[no-untyped-def]
        def trap(*args, **kwargs):  # type: ignore[no-untyped-def]
            created.append(name)
            raise AssertionError(f"the server created a {name}")

        return trap

    for module in (aiortc.codecs, aiortc.rtcrtpreceiver):
        monkeypatch.setattr(module, "get_decoder", forbidden("decoder"), raising=False)
    for module in (aiortc.codecs, aiortc.rtcrtpsender):
        monkeypatch.setattr(module, "get_encoder", forbidden("encoder"), raising=False)
    monkeypatch.setattr(aiortc.RTCRtpReceiver, "__init__", forbidden("RTCRtpReceiver"))
    monkeypatch.setattr(aiortc.RTCRtpSender, "__init__", forbidden("RTCRtpSender"))

    async with serve_in_process(tmp_path) as base_url:
        host = await signup(base_url)
        meeting = await host.create_meeting(waiting_room=False)
        pages = [await new_page(), await new_page()]
        for page, name in zip(pages, ("Ada", "Ben"), strict=True):
            await enter(page, meeting["join_url"], name)
        for page in pages:
            await wait_until(lambda page=page: decoding_from(page, 1), timeout=30)
        await host.client.aclose()
        for page in pages:
            await page.close()
    assert created == []
    assert not [t.name for t in threading.enumerate() if "decoder" in t.name]
