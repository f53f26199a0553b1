"""``mosaic serve | bots | bench | recordings render``: the one entry point (``python -m
mosaic`` works too)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import uvicorn

from mosaic.config import Settings, add_arguments, settings_from
from mosaic.event_loop import LoopUnavailable, loop_factory, loop_name
from mosaic.logs import configure_logging

# A browser's signaling frames are small; this bounds what one frame can make us buffer.
WS_MAX_FRAME_BYTES = 256 * 1024
# How long a draining worker may take to hand its meetings over before it stops anyway.
DRAIN_S = 10.0
# A recording id names a directory: letters, digits, "-" and "_" only, never a path.
RECORDING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

log = logging.getLogger(__name__)


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open files to its hard limit; return (soft, hard).

    Every participant holds a WebSocket and UDP sockets, and the soft limit many systems
    start a process with (1,024) is what a thousand idle sockets used to exhaust: health
    checks and sign-ups then timed out. The hard limit is what the administrator allows."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        log.warning("could not raise the open-file limit from %d to %d", soft, target)
        return soft, hard
    log.info("open-file limit raised from %d to %d", soft, target)
    return target, hard


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, which makes the process die by
    the signal; a service manager wants a clean exit status 0 after a clean shutdown."""

    def __init__(
        self,
        config: uvicorn.Config,
        announce: str,
        drain: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(config)
        self.announce = announce
        # Cluster mode: hand the meetings to other workers on SIGTERM *before* uvicorn
        # closes the sockets (mosaic.signaling.failover); a second signal does not wait.
        self.drain = drain
        self._draining: asyncio.Task[None] | None = None
        # Called as the shutdown starts: ends what the server itself holds back (tarpitted
        # guesses), which the graceful shutdown would otherwise wait for.
        self.release: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self.announce, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.release is not None:
            try:
                self.release()
            except Exception:
                log.exception("releasing held requests failed; shutting down anyway")
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._signalled, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: int) -> None:
        if self.drain is None or self._draining is not None:
            self.handle_exit(sig, None)
            return
        self._draining = asyncio.get_running_loop().create_task(self._drain_then_exit(sig))

    async def _drain_then_exit(self, sig: int) -> None:
        assert self.drain is not None
        # New connections go to the other workers sharing the port (or machines behind the
        # load balancer) from now on; those open here are handed over by the drain.
        for listening in getattr(self, "servers", []):
            listening.close()
        try:
            await asyncio.wait_for(self.drain(), DRAIN_S)
        except Exception:
            log.exception("draining this worker's meetings failed; stopping anyway")
        self.handle_exit(sig, None)


def shared_port_socket(host: str, port: int) -> socket.socket:
    """The HTTP socket of one of several workers: ``SO_REUSEPORT`` lets every worker bind
    the same port, and the kernel spreads new connections over them
    (mosaic/cluster/workers.py says why not a front process)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


async def _exit_with_parent(server: uvicorn.Server) -> None:
    """A supervised worker whose supervisor died (kill -9) stops: nobody would stop it."""
    parent = os.getppid()
    while not server.should_exit:
        if os.getppid() != parent:
            log.warning("the supervisor is gone; this worker stops")
            server.should_exit = True
        await asyncio.sleep(1.0)


async def serve(settings: Settings, worker_slot: int | None = None) -> int:
    """Serve until SIGTERM/SIGINT. ``worker_slot`` is set for a worker of ``--workers N``:
    it shares the port with the others (SO_REUSEPORT) and exits if its supervisor dies."""
    from mosaic.app import create_app

    raise_file_limit()
    log.info("event loop: %s", loop_name(asyncio.get_running_loop()))
    app = create_app(settings)

    async def drain() -> None:
        services = getattr(app.state, "services", None)
        if services is not None:
            await services.drain()

    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws_max_size=WS_MAX_FRAME_BYTES,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
        server_header=False,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        # Behind a reverse proxy, believe its forwarded headers, and only its.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=",".join(settings.trusted_proxies) or "",
    )
    server = _Server(
        config,
        f"Mosaic is running at {settings.base_url}",
        drain if settings.redis_url else None,
    )

    def release() -> None:
        services = getattr(app.state, "services", None)
        if services is not None:
            services.release_held()

    server.release = release
    if worker_slot is None:
        await server.serve()
        return 0 if server.started else 1
    watch = asyncio.create_task(_exit_with_parent(server))
    try:
        await server.serve(sockets=[shared_port_socket(settings.host, settings.port)])
    finally:
        watch.cancel()
    return 0 if server.started else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosaic", description="Self-hostable video meetings")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run a Mosaic node")
    add_arguments(serve_parser)
    # Set by the supervisor of --workers N for each worker it starts (not for operators).
    serve_parser.add_argument("--worker-slot", type=int, default=None, help=argparse.SUPPRESS)
    cluster_parser = commands.add_parser("cluster", help="look at a cluster of workers")
    cluster_actions = cluster_parser.add_subparsers(dest="action", required=True)
    status_parser = cluster_actions.add_parser(
        "status", help="live workers, their load and the meetings each holds"
    )
    status_parser.add_argument(
        "--redis-url", default=None, help="the cluster's Redis URL [MOSAIC_REDIS_URL]"
    )
    status_parser.add_argument("--json", action="store_true", help="one JSON document")
    bots_parser = commands.add_parser(
        "bots", help="load a meeting with bots that publish replayed media and count"
    )
    # Imported here: bots need aiortc and PyAV, which a server only loads when media flows.
    from mosaic.bots.cli import add_arguments as add_bot_arguments

    add_bot_arguments(bots_parser)
    commands.add_parser(
        "bench", help="run the benchmarks (from a source checkout; python -m bench --help)"
    )
    recordings_parser = commands.add_parser("recordings", help="work on server recordings")
    recordings = recordings_parser.add_subparsers(dest="action", required=True)
    render_parser = recordings.add_parser(
        "render", help="compose a recording into one gallery file (decodes and encodes: offline)"
    )
    render_parser.add_argument("recording_id", help="the recording's id (its directory's name)")
    render_parser.add_argument(
        "--data-dir", type=Path, default=None, help="the server's data directory [MOSAIC_DATA_DIR]"
    )
    render_parser.add_argument("--output", type=Path, default=None, help="default: gallery.webm")
    render_parser.add_argument(
        "--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        # Its options are the benchmark's own (argparse cannot pass "--x" through a subparser).
        return _bench(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args, argv[1:])
    if args.command == "cluster":
        return _cluster_status(args)
    if args.command == "bots":
        from mosaic.bots.cli import main as bots_main

        return bots_main(args)
    if args.command == "recordings":
        return _render(args)
    return 2


def _serve(args: argparse.Namespace, argv: list[str]) -> int:
    """One process, a worker of a supervisor, or the supervisor of ``--workers N``."""
    settings = settings_from(args)
    if settings.workers > 1 and not settings.redis_url:
        # Workers that do not share their state would be a silent half-cluster: a meeting's
        # participants split over processes that cannot see each other.
        print(
            f"mosaic: --workers {settings.workers} needs --redis-url"
            " (the workers share their state through Redis)",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if settings.workers > 1 and args.worker_slot is None:
        from mosaic.cluster.workers import split_ports, supervise

        try:
            split_ports(settings.udp_ports, settings.workers)
        except ValueError as error:
            print(f"mosaic: {error}", file=sys.stderr)
            return 2
        return supervise(argv, settings.workers, settings.udp_ports, settings.base_url)
    try:
        factory = loop_factory(settings.event_loop)
    except LoopUnavailable as error:
        print(f"mosaic: {error}", file=sys.stderr)
        return 2
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(serve(settings, args.worker_slot))


def _cluster_status(args: argparse.Namespace) -> int:
    from mosaic.cluster.link import ClusterUnavailable
    from mosaic.cluster.status import cluster_status, render_status

    url = args.redis_url or os.environ.get("MOSAIC_REDIS_URL")
    if not url:
        print("mosaic: cluster status needs --redis-url", file=sys.stderr)
        return 2
    # The link's own warning would say it twice; the URL is not echoed (it may hold a password).
    logging.getLogger("mosaic.cluster").setLevel(logging.ERROR)
    try:
        workers = asyncio.run(cluster_status(url))
    except ClusterUnavailable as error:
        print(f"mosaic: Redis cannot be reached: {error}", file=sys.stderr)
        return 1
    print(render_status(workers, as_json=args.json))
    return 0


def _size(text: str) -> tuple[int, int]:
    """``WIDTHxHEIGHT``, even numbers from 64 to 3840 (4:2:0 video halves both)."""
    width, _, height = text.partition("x")
    try:
        size = int(width), int(height)
    except ValueError:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT, e.g. 1280x720") from None
    if not all(64 <= n <= 3840 and n % 2 == 0 for n in size):
        raise argparse.ArgumentTypeError("width and height: even, from 64 to 3840")
    return size


def _render(args: argparse.Namespace) -> int:
    """Render a recording found under the data directory, with a progress bar."""
    from mosaic.recording.render import progress_bar, render

    if not RECORDING_ID.fullmatch(args.recording_id):
        print("not a recording id", file=sys.stderr)
        return 2
    data_dir = args.data_dir or Path(os.environ.get("MOSAIC_DATA_DIR", "data"))
    directory = data_dir / "recordings" / args.recording_id
    if not (directory / "manifest.json").is_file():
        print(f"no recording {args.recording_id} under {data_dir}", file=sys.stderr)
        return 1
    output = render(directory, args.output, progress_bar(sys.stderr), args.size)
    print(output)
    return 0


def _bench(argv: list[str]) -> int:
    """The benchmarks live beside the package (``bench/``), not in it: run them from a
    checkout, where ``python -m bench`` is the same thing."""
    try:
        from bench.__main__ import main as bench_main
    except ImportError:
        print("mosaic bench runs from a source checkout (the bench/ folder)", file=sys.stderr)
        return 2
    return bench_main(argv)


if __name__ == "__main__":
    sys.exit(main())
