"""A small client of Janus's HTTP API (Janus 1.x, the VideoRoom plugin), for bots.

Janus's HTTP transport is request/reply plus a long poll: ``POST /janus`` creates a session,
``POST /janus/<session>`` attaches a plugin handle, ``POST /janus/<session>/<handle>`` sends
a plugin message. A synchronous plugin request (``create`` a room) is answered in the POST's
reply; an asynchronous one (``join``, ``configure``, ``start``) is only acknowledged there,
and its answer comes later as an event with the same transaction, through ``GET
/janus/<session>`` (the long poll). Events nobody waits for (new publishers, renegotiation
offers) go to the handle's listener. A session dies after 60 s without a request: the long
poll itself counts, and a keep-alive is sent every 25 s for good measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

Event = dict[str, Any]
VIDEOROOM = "janus.plugin.videoroom"
KEEPALIVE_S = 25.0
REPLY_TIMEOUT_S = 20.0


class JanusError(Exception):
    """Janus (or its plugin) answered with an error."""


class JanusSession:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.id: int | None = None
        self.http = httpx.AsyncClient(timeout=httpx.Timeout(REPLY_TIMEOUT_S, read=60.0))
        self.handles: dict[int, JanusHandle] = {}
        self._waiting: dict[str, asyncio.Future[Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._counter = itertools.count(1)
        self._prefix = secrets.token_hex(4)

    def _transaction(self) -> str:
        return f"{self._prefix}-{next(self._counter)}"

    async def post(self, path: str, body: dict[str, Any]) -> Event:
        """One request; returns Janus's immediate reply (raises on ``"janus": "error"``)."""
        response = await self.http.post(self.url + path, json=body)
        response.raise_for_status()
        reply: Event = response.json()
        if reply.get("janus") == "error":
            raise JanusError(reply.get("error", {}).get("reason", str(reply)))
        return reply

    async def create(self) -> None:
        reply = await self.post("", {"janus": "create", "transaction": self._transaction()})
        self.id = int(reply["data"]["id"])
        self._tasks = [
            asyncio.create_task(self._poll()),
            asyncio.create_task(self._keepalive()),
        ]

    async def attach(self, plugin: str = VIDEOROOM) -> JanusHandle:
        reply = await self.post(
            f"/{self.id}",
            {"janus": "attach", "plugin": plugin, "transaction": self._transaction()},
        )
        handle = JanusHandle(self, int(reply["data"]["id"]))
        self.handles[handle.id] = handle
        return handle

    async def _poll(self) -> None:
        while True:
            try:
                response = await self.http.get(f"{self.url}/{self.id}", params={"maxev": 10})
                events = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                log.debug("janus long poll failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                self._dispatch(event)

    def _dispatch(self, event: Event) -> None:
        kind = event.get("janus")
        if kind in ("keepalive", "ack"):
            return
        waiting = self._waiting.pop(str(event.get("transaction")), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(event)
            return
        handle = self.handles.get(int(event.get("sender", 0)))
        if handle is not None:
            handle.deliver(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            with contextlib.suppress(httpx.HTTPError, JanusError):
                await self.post(
                    f"/{self.id}", {"janus": "keepalive", "transaction": self._transaction()}
                )

    async def destroy(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.id is not None:
            with contextlib.suppress(httpx.HTTPError, JanusError):
                await self.post(
                    f"/{self.id}", {"janus": "destroy", "transaction": self._transaction()}
                )
        await self.http.aclose()


class JanusHandle:
    """One attached plugin handle: messages to the plugin, events from it."""

    def __init__(self, session: JanusSession, handle_id: int) -> None:
        self.session = session
        self.id = handle_id
        self.listener: Callable[[Event], Any] = lambda event: None

    def deliver(self, event: Event) -> None:
        self.listener(event)

    async def message(self, body: dict[str, Any], jsep: dict[str, str] | None = None) -> Event:
        """Send a plugin message; return the plugin's answer (immediate or by event), whose
        ``plugindata.data`` is checked for an error. The event's ``jsep`` is kept on it."""
        session = self.session
        transaction = session._transaction()
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        session._waiting[transaction] = future
        request: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        try:
            reply = await session.post(f"/{session.id}/{self.id}", request)
            if reply.get("janus") != "ack":
                event = reply
            else:
                event = await asyncio.wait_for(future, REPLY_TIMEOUT_S)
        finally:
            session._waiting.pop(transaction, None)
        data = event.get("plugindata", {}).get("data", {})
        if "error" in data or event.get("janus") == "error":
            raise JanusError(data.get("error") or str(event))
        return event

    async def trickle_done(self) -> None:
        """No more candidates from us (all of ours were in the SDP)."""
        session = self.session
        await session.post(
            f"/{session.id}/{self.id}",
            {
                "janus": "trickle",
                "candidate": {"completed": True},
                "transaction": session._transaction(),
            },
        )


def plugin_data(event: Event) -> dict[str, Any]:
    return event.get("plugindata", {}).get("data", {})  # type: ignore[no-any-return]


async def create_room(url: str, room: int, *, publishers: int, bitrate: int = 1_000_000) -> None:
    """A VideoRoom for a benchmark: Opus and VP8 only, audio levels read (as Mosaic reads
    them for its active speaker), no periodic keyframe requests, REMB capped at ``bitrate``."""
    session = JanusSession(url)
    await session.create()
    try:
        handle = await session.attach()
        await handle.message(
            {
                "request": "create",
                "room": room,
                "publishers": publishers,
                "bitrate": bitrate,
                "fir_freq": 0,
                "audiocodec": "opus",
                "videocodec": "vp8",
                "audiolevel_ext": True,
                "audiolevel_event": True,
                "notify_joining": False,
            }
        )
    finally:
        await session.destroy()
