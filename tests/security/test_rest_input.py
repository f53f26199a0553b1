"""Bad input to the REST API: every write route answers a typed 4xx, repeats nothing, keeps its
keep-alive connection, and the event loop stays free while a huge body is refused.

The routes are read from the application's OpenAPI document, so a route added later is
attacked too.
Requests go over a raw keep-alive socket (h11 as the client's HTTP parser) so that a reset
connection or a ``Connection: close`` cannot hide behind a client that reconnects silently.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11
import httpx
import pytest

from mosaic.app import create_app
from mosaic.config import Settings
from mosaic.web_input import MAX_BODY_BYTES
from tests.helpers.api import Account

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CANARY = "zq-canary"
BIG = 10 * 1024 * 1024


@dataclass(frozen=True)
class WriteRoute:
    method: str
    path: str
    takes_body: bool


def write_routes() -> list[WriteRoute]:
    """Every state-changing HTTP route, from the application's own OpenAPI document."""
    document = create_app(Settings()).openapi()
    routes = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method.upper() in WRITE_METHODS:
                routes.append(WriteRoute(method.upper(), path, "requestBody" in operation))
    return routes


def _every_field(value: bytes) -> bytes:
    """A body with the attack in every field any of our write routes reads."""
    return (
        b'{"name": %s, "email": %s, "password": %s, "topic": %s, '
        b'"settings": {"allowed_email_domains": [%s]}}' % ((value,) * 5)
    )


# Refused before any route sees them, whatever the route.
MALFORMED: dict[str, bytes] = {
    "lone surrogate, escaped": _every_field(b'"zq-canary\\ud800y"'),
    "lone surrogate, raw bytes": _every_field(b'"zq-canary\xed\xa0\x80y"'),
    "bytes that are not UTF-8": _every_field(b'"zq-canary\xffy"'),
    "1e309": _every_field(b"1e309"),
    "-1e309": _every_field(b"-1e309"),
    "NaN": _every_field(b"NaN"),
    "Infinity": _every_field(b"Infinity"),
    "-Infinity": _every_field(b"-Infinity"),
    "a 5000-digit integer": _every_field(b"1" * 5000),
    "nesting 5000 deep": b"[" * 5000 + b"]" * 5000,
    "surrogate as a key": b'{"zq-canary\\udfff": 1}',
}
# Valid JSON that fails validation: the answer must not repeat it.
ECHO_BAIT: dict[str, bytes] = {
    "long strings everywhere": _every_field(b'"' + CANARY.encode() * 300 + b'"'),
    "an unknown field": b'{"%s": 1}' % (CANARY.encode() * 100),
    "a bad e-mail domain": b'{"settings": {"allowed_email_domains": ["%s!"]}}' % CANARY.encode(),
    "a number for every field": _every_field(b"12345678987654321"),
}


class KeepAlive:
    """One HTTP/1.1 connection that must stay open from request to request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.http = h11.Connection(h11.CLIENT)

    @classmethod
    async def open(cls, base_url: str) -> KeepAlive:
        parts = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        chunked: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        if self.http.our_state is h11.DONE:
            self.http.start_next_cycle()  # raises if either side said Connection: close
        sent = {"host": "127.0.0.1", **(headers or {})}
        if body or method in WRITE_METHODS:
            sent["content-type"] = "application/json"
            if chunked:
                sent["transfer-encoding"] = "chunked"
            else:
                sent["content-length"] = str(len(body))
        self.writer.write(
            self.http.send(h11.Request(method=method, target=path, headers=list(sent.items())))
        )
        step = 64 * 1024 if chunked else max(len(body), 1)
        for start in range(0, len(body), step):
            self.writer.write(self.http.send(h11.Data(data=body[start : start + step])))
            await self.writer.drain()
        self.writer.write(self.http.send(h11.EndOfMessage()))
        await self.writer.drain()
        status, response_headers, content = 0, {}, b""
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(self.reader.read(65536), 10)
                if not data:
                    raise ConnectionError("the server closed the connection")
                self.http.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
                response_headers = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, response_headers, content


def _assert_typed_refusal(status: int, headers: dict[str, str], content: bytes, what: str) -> None:
    assert 400 <= status < 500 and status not in (401, 403, 404, 405), (what, status, content)
    assert headers["content-type"] == "application/json", what
    assert "content-security-policy" in headers, what
    detail = httpx.Response(status, content=content).json()["detail"]
    assert isinstance(detail, list) and detail, (what, detail)
    for error in detail:
        assert set(error) == {"type", "loc", "msg"}, (what, error)
    assert CANARY.encode() not in content, f"{what}: the input came back"
    assert len(content) < 4096, f"{what}: {len(content)} bytes of answer"


# Polls /healthz from a process of its own (this one's GIL is busy building 10 MB bodies),
# on a connection of its own; prints each latency in seconds.
POLLER = """
import sys, time, httpx
with httpx.Client(base_url=sys.argv[1], timeout=30) as client:
    client.get("/healthz")  # the connection's set-up is not the server's latency
    while True:
        started = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        print(time.perf_counter() - started, flush=True)
        time.sleep(0.01)
"""


class HealthWatch:
    """/healthz polled all along, from a process of its own (this one's GIL is busy building
    10 MB bodies) on a connection of its own."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", POLLER, url], stdout=subprocess.PIPE, text=True
        )

    def stop(self) -> list[float]:
        """The latencies, in seconds."""
        self.process.terminate()
        output, _ = self.process.communicate(timeout=10)
        return [float(line) for line in output.split()]


@pytest.fixture
def healthz_watch(server) -> Iterator[HealthWatch]:  # type: ignore[no-untyped-def]
    watch = HealthWatch(server.url)
    time.sleep(0.5)  # polling by now
    yield watch
    if watch.process.poll() is None:
        watch.stop()


def _substitute(path: str, meeting_id: str) -> str:
    return re.sub(r"\{[^}]+\}", meeting_id, path)


async def test_every_write_route_refuses_bad_json_with_a_typed_answer_on_a_live_connection(
    server, host: Account, healthz_watch: HealthWatch
) -> None:
    routes = write_routes()
    known = {(route.method, route.path) for route in routes}
    for expected in ("POST /api/auth/signup", "POST /api/auth/login", "POST /api/meetings"):
        assert tuple(expected.split()) in known
    assert ("PATCH", "/api/meetings/{meeting_id}") in known
    meeting = await host.create_meeting()
    cookie = "; ".join(f"{k}={v}" for k, v in host.cookies.items())
    headers = {"cookie": cookie, "origin": server.url, **host.csrf}  # as the web client
    connection = await KeepAlive.open(server.url)
    try:
        for route in routes:
            path = _substitute(route.path, meeting["id"])
            attacks = dict(MALFORMED)
            if route.takes_body:  # a route without a body would act on valid JSON: not bait
                attacks |= ECHO_BAIT
            for what, body in attacks.items():
                label = f"{route.method} {route.path} with {what}"
                answer = await connection.request(route.method, path, body, headers)
                _assert_typed_refusal(*answer, label)
                status, _, _ = await connection.request("GET", "/healthz")
                assert status == 200, f"the connection did not survive {label}"
            for chunked in (False, True):
                label = f"{route.method} {route.path} with a 10 MB body (chunked={chunked})"
                big = (
                    b'{"name": "' + b"x" * BIG + b'"}'
                    if chunked
                    else b"[" + b"1," * (BIG // 2) + b"1]"
                )
                started = time.perf_counter()
                status, response_headers, content = await connection.request(
                    route.method, path, big, headers, chunked=chunked
                )
                assert status == 413, (label, status, content)
                _assert_typed_refusal(status, response_headers, content, label)
                assert str(MAX_BODY_BYTES) in content.decode()
                assert time.perf_counter() - started < 5, label
                status, _, _ = await connection.request("GET", "/healthz")
                assert status == 200, f"the connection did not survive {label}"
    finally:
        await connection.close()
    # Nothing was changed by any of it: the meeting is there, its topic as it was.
    still = await host.client.get(f"/api/meetings/{meeting['id']}")
    assert still.status_code == 200 and still.json()["topic"] == meeting["topic"]
    assert (await host.client.get("/api/me")).status_code == 200  # not signed out either
    latencies = healthz_watch.stop()
    assert len(latencies) > 20, "the health check hardly ran"
    slowest = max(latencies)
    assert slowest < 0.2, f"/healthz took {slowest * 1000:.0f} ms while bodies were refused"


async def test_a_bad_settings_patch_is_described_without_the_input(host: Account) -> None:
    meeting = await host.create_meeting()
    response = await host.patch(
        f"/api/meetings/{meeting['id']}",
        {"settings": {"allowed_email_domains": [CANARY + "!"], "waiting_room": "maybe"}},
    )
    assert response.status_code == 422
    assert CANARY not in response.text
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["allowed_email_domains"] in locations and ["waiting_room"] in locations


def test_the_limit_is_kilobytes_and_documented() -> None:
    from pathlib import Path

    assert 16 * 1024 <= MAX_BODY_BYTES <= 64 * 1024
    protocol = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()
    assert f"{MAX_BODY_BYTES // 1024} KiB" in protocol
