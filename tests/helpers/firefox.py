"""Debian's Firefox ESR, headless, driven over WebDriver BiDi (W3C) by a small client.

Playwright cannot drive a stock Firefox (it needs its own patched build) and Debian ships no
geckodriver, but Firefox speaks WebDriver BiDi itself: ``--remote-debugging-port`` opens a
WebSocket that takes JSON commands (``session.new``, ``browsingContext.navigate``,
``script.evaluate``…). This module is the few of them the tests need, over ``websockets``.

Prefs give a fake camera and microphone without a prompt, show ICE host addresses instead of
mDNS names and gather on loopback, as Chromium's flags do in mosaic/bots/chromium.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import websockets

FIREFOX = "/usr/bin/firefox-esr"
FIREFOX_PREFS: dict[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.loopback": True,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    # Screen sharing without the picker: Firefox's fake devices cover getDisplayMedia too.
    "media.getdisplaymedia.enabled": True,
    "intl.accept_languages": "en-US",
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "app.update.disabledForTesting": True,
}
_LISTENING = re.compile(r"WebDriver BiDi listening on (ws://\S+)")


XVFB = "/usr/bin/Xvfb"


@contextlib.contextmanager
def virtual_screen(size: str = "1280x720x24") -> Iterator[str]:
    """A virtual X screen (Xvfb) for the body; yields its display (``:N``).

    Firefox's fake media devices are a camera and a microphone only (its fake engine knows no
    other source), and headless Firefox has no screen, so ``getDisplayMedia`` fails there with
    NotFoundError whatever the prefs. With a window on an X screen it captures that screen,
    without a picker when ``media.navigator.permission.disabled`` is set."""
    read, write = os.pipe()
    process = subprocess.Popen(
        [XVFB, "-displayfd", str(write), "-screen", "0", size, "-nolisten", "tcp"],
        pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    os.close(write)
    try:
        with os.fdopen(read) as answer:
            number = answer.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(10)


# WebDriver's code points for the keys that type no character (W3C WebDriver, "Keyboard actions").
# Enter is U+E006 (WebDriver's "Return", code "Enter"): U+E007 is the keypad's Enter
# ("NumpadEnter"), which is not what a person presses nor what Playwright's "Enter" sends.
KEYS = {
    "Backspace": "\ue003", "Tab": "\ue004", "Enter": "\ue006", "Shift": "\ue008",
    "Control": "\ue009", "Alt": "\ue00a", "Escape": "\ue00c", "Space": " ",
    "End": "\ue010", "Home": "\ue011", "ArrowLeft": "\ue012", "ArrowUp": "\ue013",
    "ArrowRight": "\ue014", "ArrowDown": "\ue015", "Meta": "\ue03d",
}  # fmt: skip


def _key_value(name: str) -> str:
    """A key's WebDriver value: a named key's code point, else the character itself."""
    if name in KEYS:
        return KEYS[name]
    if len(name) != 1:
        raise ValueError(f"unknown key {name!r}")
    return name


class BidiError(RuntimeError):
    """A BiDi command failed, or a script threw."""


def unavailable() -> str | None:
    """None if Firefox ESR can be driven here, else why not."""
    if os.path.exists(FIREFOX):
        return None
    if os.geteuid() != 0:
        return "Debian firefox-esr is not installed (scripts/system-deps.sh installs it as root)"
    return None  # root: make test's system-deps installs it; a missing binary then fails loudly


def screen_unavailable() -> str | None:
    """None if Firefox can be given a virtual screen here (for screen sharing), else why not."""
    if os.path.exists(XVFB) or os.geteuid() == 0:
        return unavailable()
    return "Debian xvfb is not installed (scripts/system-deps.sh installs it as root)"


class Page:
    """One browsing context (a tab)."""

    def __init__(self, firefox: Firefox, context: str) -> None:
        self.firefox = firefox
        self.context = context

    async def goto(self, url: str) -> None:
        await self.firefox.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    async def store(self, url: str, items: dict[str, str]) -> None:
        """Put ``items`` in the localStorage of ``url``'s origin (settings a page reads at
        start), by a visit to the origin's home page before the page under test loads (once
        the home page has started: leaving while it fetches its texts aborts that fetch,
        which Firefox reports as an error of the page).

        Not a BiDi preload script: Firefox ESR 140 running one sometimes logs a stackless
        'Permission denied to access property "length"' into the page (about one load in
        twelve on this machine, none without it), an error of the browser's own that would
        read as the page's."""
        origin = "/".join(url.split("/", 3)[:3])
        await self.goto(f"{origin}/")
        await self.wait_for(
            "!document.getElementById('welcome').hidden"
            " || !document.getElementById('dashboard').hidden"
        )
        writes = [
            f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)})" for k, v in items.items()
        ]
        await self.evaluate(f"({', '.join([*writes, 'true'])})")

    async def evaluate(self, expression: str, *, user_gesture: bool = False) -> Any:
        """The JSON value of a JavaScript expression (promises awaited). ``user_gesture``
        gives the page a transient activation, as a click would (getDisplayMedia needs one)."""
        result = await self.firefox.command(
            "script.evaluate",
            {
                "expression": f"(async () => JSON.stringify(await ({expression})))()",
                "target": {"context": self.context},
                "awaitPromise": True,
                "userActivation": user_gesture,
            },
        )
        if result.get("type") == "exception":
            details = result.get("exceptionDetails", {})
            raise BidiError(f"script threw: {details.get('text')}")
        value = result["result"]
        if value.get("type") != "string":
            return None
        return json.loads(value["value"])

    async def press(self, keys: str) -> None:
        """Press a key, or a chord written as Playwright writes it (``"Tab"``, ``"Shift+Tab"``,
        ``"Alt+a"``, ``"?"``), as the keyboard does: ``input.performActions`` dispatches trusted
        key events to whatever has focus, so the browser's own behaviour (Tab moving focus,
        Enter pressing a button, Escape closing a dialog) happens as it does for a person.
        Gecko presses a focused button on Enter or Space only while its window has the focus:
        use a window from `Firefox.new_page` (the one Firefox starts with never gets it here)."""
        *modifiers, key = keys.split("+") if keys != "+" else ["+"]
        chord = [_key_value(name) for name in modifiers]
        actions: list[dict[str, str]] = [{"type": "keyDown", "value": k} for k in chord]
        actions += [
            {"type": "keyDown", "value": _key_value(key)},
            {"type": "keyUp", "value": _key_value(key)},
        ]
        actions += [{"type": "keyUp", "value": k} for k in reversed(chord)]
        await self._keys(actions)

    async def type(self, text: str) -> None:
        """Type ``text`` one character at a time into whatever has focus."""
        actions: list[dict[str, str]] = []
        for character in text:
            actions += [
                {"type": "keyDown", "value": character},
                {"type": "keyUp", "value": character},
            ]
        await self._keys(actions)

    async def _keys(self, actions: list[dict[str, str]]) -> None:
        await self.firefox.command(
            "input.performActions",
            {
                "context": self.context,
                "actions": [{"type": "key", "id": "keyboard", "actions": actions}],
            },
        )

    async def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll an expression until it is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"still falsy after {timeout} s: {expression[:120]}")
            await asyncio.sleep(0.25)


def _described(entry: dict[str, Any]) -> str:
    """A log entry's text and where it was raised: an error without its script says nothing
    about whether it is the page's or the browser's own."""
    frames = (entry.get("stackTrace") or {}).get("callFrames") or []
    where = " <- ".join(
        f"{frame.get('functionName') or '?'} {frame.get('url')}:{frame.get('lineNumber')}"
        for frame in frames[:4]
    )
    return f"{entry.get('text')} [{where or entry.get('source', {}).get('context', '?')}]"


class Firefox:
    """A headless Firefox ESR process with its own profile, and a BiDi session to it."""

    def __init__(
        self, prefs: dict[str, bool | int | str] | None = None, display: str | None = None
    ) -> None:
        """``display`` (an X display such as ``:99``) runs Firefox with a window there
        instead of headless: screen capture needs a screen (see `Xvfb`)."""
        self.prefs = {**FIREFOX_PREFS, **(prefs or {})}
        self.display = display
        self.process: asyncio.subprocess.Process | None = None
        self.profile = Path(tempfile.mkdtemp(prefix="mosaic-firefox-"))
        self.errors: list[str] = []  # console errors and uncaught exceptions of every page
        self._socket: Any = None
        self._next_id = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._stderr: list[str] = []

    async def __aenter__(self) -> Firefox:
        try:
            await self._launch()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _launch(self) -> None:
        user_js = "".join(
            f"user_pref({json.dumps(name)}, {json.dumps(value)});\n"
            for name, value in self.prefs.items()
        )
        (self.profile / "user.js").write_text(user_js)
        env = {**os.environ, "HOME": str(self.profile)}
        if self.display is None:
            mode = ["--headless"]
            env["MOZ_HEADLESS"] = "1"
        else:
            mode = []
            env.pop("MOZ_HEADLESS", None)
            env["DISPLAY"] = self.display
        self.process = await asyncio.create_subprocess_exec(
            FIREFOX, *mode, "--no-remote", "--profile", str(self.profile),
            "--remote-debugging-port", "0", "about:blank",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        url = await asyncio.wait_for(self._listening_url(), 30)
        self._socket = await websockets.connect(f"{url}/session", max_size=None)
        self._reader = asyncio.create_task(self._read())
        await self.command("session.new", {"capabilities": {}})
        await self.command("session.subscribe", {"events": ["log.entryAdded"]})

    async def _listening_url(self) -> str:
        assert self.process is not None and self.process.stderr is not None
        while True:
            line = (await self.process.stderr.readline()).decode(errors="replace")
            if not line:
                raise RuntimeError("firefox exited:\n" + "".join(self._stderr[-20:]))
            self._stderr.append(line)
            found = _LISTENING.search(line)
            if found:
                asyncio.create_task(self._drain_stderr())  # noqa: RUF006 - ends with the process
                return found.group(1)

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while line := await self.process.stderr.readline():
            if len(self._stderr) < 2000:
                self._stderr.append(line.decode(errors="replace"))

    async def _read(self) -> None:
        async for frame in self._socket:
            message = json.loads(frame)
            if "id" in message and message["id"] in self._pending:
                future = self._pending.pop(message["id"])
                if not future.done():
                    future.set_result(message)
            elif message.get("method") == "log.entryAdded":
                entry = message["params"]
                if entry.get("level") == "error":
                    self.errors.append(_described(entry))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BidiError("the BiDi connection closed"))

    async def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = future
        await self._socket.send(
            json.dumps({"id": self._next_id, "method": method, "params": params})
        )
        message = await asyncio.wait_for(future, 60)
        if message.get("type") == "error":
            raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
        return message["result"]  # type: ignore[no-any-return]

    async def new_page(self) -> Page:
        created = await self.command("browsingContext.create", {"type": "window"})
        return Page(self, created["context"])

    async def first_page(self) -> Page:
        tree = await self.command("browsingContext.getTree", {"maxDepth": 0})
        return Page(self, tree["contexts"][0]["context"])

    @property
    def log(self) -> str:
        return "".join(self._stderr)

    async def close(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("session.end", {}), 5)
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
