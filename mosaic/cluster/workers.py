"""``mosaic serve --workers N``: a supervisor that runs N worker processes behind one port.

How the port is shared: every worker binds the same HTTP port itself with ``SO_REUSEPORT``,
and the kernel spreads new connections over the listening sockets by a hash of their
addresses and ports. Why not a small front process that accepts and hands connections on:
that is one more hop and one more single point of failure for every WebSocket frame, and a
front that passes file descriptors would still be a process whose death takes the port with
it. With ``SO_REUSEPORT`` a worker can die and be replaced while the others keep accepting;
the port is closed only when the last worker goes.

The supervisor does no serving. It starts the workers (``python -m mosaic serve ...`` with
the same arguments, plus ``--workers 1 --worker-slot I`` and each worker's own slice of
``--udp-ports``), prints "Mosaic is running at ..." once every worker said it was ready,
starts a new worker (a new id) in place of one that dies, and on SIGTERM or SIGINT forwards
SIGTERM to all of them (each drains its meetings to the others) and exits once they have.
It imports nothing of Mosaic: a supervisor that cannot crash on a bug in the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

READY = "Mosaic is running at"
# A worker that dies sooner than this after its start is restarted only after a pause, so
# that a worker failing at once (a bad flag, Redis gone) does not spin the machine.
STEADY_S = 10.0
RESTART_PAUSE_S = 1.0
# How long workers get to drain their meetings after SIGTERM before they are killed.
STOP_GRACE_S = 30.0


def split_ports(udp_ports: str | None, workers: int) -> list[str | None]:
    """Each worker's slice of ``lo-hi``, as even as can be (the first ones take the rest);
    no range: every worker takes ephemeral ports, as a single process does."""
    if not udp_ports:
        return [None] * workers
    low_text, _, high_text = udp_ports.partition("-")
    low, high = int(low_text), int(high_text or low_text)
    size = high - low + 1
    if size < workers:
        raise ValueError(f"--udp-ports {udp_ports} has fewer ports than the {workers} workers")
    slices: list[str | None] = []
    start = low
    for index in range(workers):
        count = size // workers + (1 if index < size % workers else 0)
        slices.append(f"{start}-{start + count - 1}")
        start += count
    return slices


@dataclass
class _Worker:
    slot: int
    udp_ports: str | None
    process: asyncio.subprocess.Process | None = None
    started: float = 0.0
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class Supervisor:
    def __init__(self, argv: list[str], workers: int, udp_ports: str | None, url: str) -> None:
        self.argv = argv
        self.url = url
        self.workers = [
            _Worker(slot, ports) for slot, ports in enumerate(split_ports(udp_ports, workers))
        ]
        self.stopping = False
        self.restarts = 0

    def _command(self, worker: _Worker) -> list[str]:
        command = [sys.executable, "-m", "mosaic", "serve", *self.argv]
        command += ["--workers", "1", "--worker-slot", str(worker.slot)]
        if worker.udp_ports is not None:
            command += ["--udp-ports", worker.udp_ports]
        return command

    async def _start(self, worker: _Worker) -> None:
        worker.started = time.monotonic()
        worker.process = await asyncio.create_subprocess_exec(
            *self._command(worker),
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    async def _watch(self, worker: _Worker) -> None:
        """Pass the worker's output on (its readiness line kept back), and replace it when
        it dies, for as long as the supervisor is not stopping."""
        while True:
            process = worker.process
            assert process is not None and process.stdout is not None
            async for raw in process.stdout:
                line = raw.decode(errors="replace")
                if line.startswith(READY):
                    worker.ready.set()
                else:
                    sys.stdout.write(line)
                    sys.stdout.flush()
            code = await process.wait()
            if self.stopping:
                return
            if not worker.ready.is_set() and not self._all_ready():
                raise RuntimeError(f"worker {worker.slot} exited ({code}) before it was ready")
            log.warning("worker %d (pid %d) exited with %s; starting another", worker.slot,
                        process.pid, code)  # fmt: skip
            if time.monotonic() - worker.started < STEADY_S:
                await asyncio.sleep(RESTART_PAUSE_S)
            if self.stopping:
                return
            self.restarts += 1
            await self._start(worker)

    def _all_ready(self) -> bool:
        return all(worker.ready.is_set() for worker in self.workers)

    def _forward(self, sig: int = signal.SIGTERM) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(sig)

    async def _stop(self) -> None:
        self._forward()
        waits = [w.process.wait() for w in self.workers if w.process is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), STOP_GRACE_S)
        except TimeoutError:
            self._forward(signal.SIGKILL)
            await asyncio.gather(*waits)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stopped = asyncio.create_task(stop.wait())
        watchers: list[asyncio.Task[None]] = []
        first, *others = self.workers
        first_ready = asyncio.ensure_future(first.ready.wait())
        all_ready = asyncio.ensure_future(asyncio.gather(*(w.ready.wait() for w in self.workers)))
        status = 0
        try:
            # The first worker alone, then the others: on a fresh data directory the first
            # creates the database (migrations) and the signing key the others then read.
            await self._start(first)
            watchers.append(asyncio.create_task(self._watch(first)))
            done, _ = await asyncio.wait(
                [first_ready, stopped, *watchers], return_when=asyncio.FIRST_COMPLETED
            )
            if first_ready in done:
                for worker in others:
                    await self._start(worker)
                    watchers.append(asyncio.create_task(self._watch(worker)))
                done, _ = await asyncio.wait(
                    [all_ready, stopped, *watchers], return_when=asyncio.FIRST_COMPLETED
                )
            if all_ready in done:
                print(f"{READY} {self.url} ({len(self.workers)} workers)", flush=True)
                done, _ = await asyncio.wait(
                    [stopped, *watchers], return_when=asyncio.FIRST_COMPLETED
                )
            for task in done:
                if task is not stopped and task.exception() is not None:
                    print(f"mosaic: {task.exception()}", file=sys.stderr)
                    status = 1
        finally:
            await self._stop()
            for task in [*watchers, stopped, first_ready, all_ready]:
                task.cancel()
            await asyncio.gather(*watchers, stopped, first_ready, all_ready, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return status


def supervise(argv: list[str], workers: int, udp_ports: str | None, url: str) -> int:
    """Run the workers until SIGTERM/SIGINT; the exit status is 0 after a clean stop, 1 if a
    worker could not start at all."""
    return asyncio.run(Supervisor(argv, workers, udp_ports, url).run())
