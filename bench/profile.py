"""``python -m bench.profile``: where a Mosaic server's CPU goes while it forwards.

Starts a server, puts ``--publishers`` bots in one meeting (everyone publishes and subscribes
to everyone), and once media flows samples the server with py-spy (a sampling profiler that
attaches to a running process: the server runs unmodified, at full speed) for
``--seconds``, only the thread that holds the GIL (``--gil``): threads blocked in C, such as
aiosqlite's idle worker, would otherwise look busy (``--native`` instead samples C frames
too, libsrtp and the system calls, of the event loop's thread). Writes the collapsed stacks
and the top functions, by own time and including callees, to
``bench/results/profile-<timestamp>.txt``.

``--perf`` samples with Linux perf instead (``cpu-clock``: no hardware counters needed, the
kernel's side seen too): the user/kernel split, the share of each library, the kernel's time
by the system call that entered it (``sendto`` for the fan-out, ``recvfrom`` for what is
received, ``epoll_wait`` for the loop's sleeps and wake-ups) and the top symbols. Python's
own frames are not named there (CPython 3.11 has no perf map): py-spy splits those.

py-spy comes with the test extras (``make test`` installs it), not with Mosaic itself; it
needs ptrace, i.e. root or CAP_SYS_PTRACE. Like ``python -m bench``, run as root it moves into
its own network namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench import environment
from bench.meetings import mosaic_bots, open_meeting
from bench.report import RESULTS
from bench.servers import MosaicProcess
from mosaic.bots.clips import audio_clip, video_clip
from mosaic.bots.swarm import start_all, stop_all, wait_for_media

TOP = 30
# Frames every stack passes through (the event loop, the entry point): not news.
PLUMBING = ("asyncio/runners", "asyncio/base_events", "<frozen", "mosaic/__main__", "cli.py")


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install -e '.[test]'")
    return found


# The forwarding path's stages, each recognised by a function on the sample's stack (the
# first rule that matches wins; kernel and library time included). Python's own frames are
# not named by perf on CPython 3.11: the rest of the interpreter's time is "Python".
STAGES = (
    ("send (sendto, the kernel's side included)", ("__libc_sendto", "__send")),
    ("receive (recvfrom, recvmsg)", ("__libc_recvfrom", "__libc_recvmsg")),
    ("the loop's sleeps and wake-ups (epoll_wait)", ("epoll_wait", "epoll_pwait")),
    # OpenSSL's AES-GCM is hand-written assembly without frame pointers: its samples are
    # told apart by their own names.
    ("SRTP unprotect", ("srtp_unprotect", "ossl_aes_gcm_decrypt_avx512")),
    ("SRTP protect", ("srtp_protect", "ossl_aes_gcm_encrypt_avx512")),
    ("compiled fan-out: rewrite, stamp, number", (
        "fanout", "fanout_one", "Forwarder_send", "forward_packet", "transmit", "rewrite_core",
        "add_to_slot",
    )),
    ("compiled receive: parse, statistics, bookkeeping, template", (
        "parse_rtp_common", "stats_update", "keep", "writer_template", "vp8_picture_ids",
        "Unprotector_unprotect",
    )),
)  # fmt: skip


def _stage(frames: list[tuple[str, str]]) -> str:
    for name, markers in STAGES:
        if any(symbol in markers for symbol, _ in frames):
            return name
    library = frames[0][1]
    if library.startswith("libpython"):
        return "Python (the interpreter, its objects and memory)"
    return f"other ({library})"


def perf_summary(script: str, top: int = TOP) -> str:
    """Shares of ``perf script -F ip,sym,dso`` samples (one call stack each, leaf first):
    user and kernel, by stage of the forwarding path (`STAGES`), by library (the leaf's),
    the kernel's by the user-space function that entered it (a system call's libc
    wrapper), and the top symbols."""
    leaves: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = kernel = 0
    for sample in script.split("\n\n"):
        frames = [_perf_frame(line) for line in sample.strip().splitlines() if line.strip()]
        if not frames:
            continue
        total += 1
        symbol, library = frames[0]
        leaves[f"{symbol} [{library}]"] += 1
        libraries[library] += 1
        stages[_stage(frames)] += 1
        if library == "kernel":
            kernel += 1
            entered = next((s for s, lib in frames if lib != "kernel"), "(kernel thread)")
            entries[entered] += 1
    if not total:
        return "no samples"

    def block(title: str, counter: Counter[str], count: int) -> list[str]:
        return [title] + [
            f"{100 * n / total:6.1f}%  {name}" for name, n in counter.most_common(count)
        ]

    return "\n".join([
        f"{total} samples: user {100 * (total - kernel) / total:.1f}%,"
        f" kernel {100 * kernel / total:.1f}%",
        "", *block("by stage", stages, len(STAGES) + 4),
        "", *block("by library (own time)", libraries, 10),
        "", *block("kernel time, by what entered it", entries, 8),
        "", *block("own time", leaves, top),
    ])  # fmt: skip


def _perf_frame(line: str) -> tuple[str, str]:
    """(symbol, library) of one ``perf script`` frame line: ``<ip> <symbol> (<path>)``."""
    _, _, rest = line.strip().partition(" ")
    symbol, _, path = rest.rpartition(" (")
    path = path.rstrip(")")
    library = "kernel" if path.startswith("[kernel") else Path(path).name or path
    return symbol or rest, library


def perf_tool() -> str:
    found = shutil.which("perf")
    if found is None:
        raise SystemExit("perf is not installed (Debian: linux-perf)")
    return found


def summarize(collapsed: str, top: int = TOP, only: str | None = None) -> str:
    """Own and inclusive sample shares per function from py-spy's collapsed stacks (those
    that pass through a frame naming ``only``, if given)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if only is not None and only not in stack:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"

    def block(title: str, counter: Counter[str]) -> list[str]:
        rows = [f"{title} ({total} samples)"]
        frames = [(f, n) for f, n in counter.most_common() if not any(s in f for s in PLUMBING)]
        rows += [f"{100 * n / total:6.1f}%  {frame}" for frame, n in frames[:top]]
        return rows

    return "\n".join([*block("own time", own), "", *block("including callees", inclusive)])


async def profile(
    publishers: int,
    seconds: float,
    env: environment.Environment,
    native: bool = False,
    perf: bool = False,
) -> Path:
    video_clip(), audio_clip()
    with tempfile.TemporaryDirectory(prefix="bench-") as data_dir:
        raw = Path(data_dir) / "py-spy.txt"
        server = MosaicProcess(Path(data_dir), env.media_address).start()
        try:
            meeting = await open_meeting(server.url)
            bots = mosaic_bots(meeting, publishers, env.media_address)
            try:
                await start_all(bots)
                await wait_for_media(bots, minimum=50)
                await asyncio.sleep(3)
                command = [
                    py_spy(), "record", "--pid", str(server.pid), "--duration", str(int(seconds)),
                    "--rate", "250", "--format", "raw", "--nolineno", "--gil", "--output", str(raw),
                ]  # fmt: skip
                if native:
                    # C frames too (libsrtp, the kernel calls), every thread: summarized for
                    # the event loop's thread only, the others being idle.
                    command.remove("--gil")
                    command.append("--native")
                if perf:
                    command = [
                        perf_tool(), "record", "--event", "cpu-clock", "--freq", "1000", "-g",
                        "--pid", str(server.pid), "--output", str(raw), "--", "sleep", str(seconds),
                    ]  # fmt: skip
                process = await asyncio.create_subprocess_exec(
                    *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
                _, stderr = await process.communicate()
                collapsed = raw.read_text() if raw.exists() and not perf else ""
                if perf:
                    script = await asyncio.create_subprocess_exec(
                        *[perf_tool(), "script", "--input", str(raw), "--fields", "ip,sym,dso"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    collapsed = (await script.communicate())[0].decode(errors="replace")
            finally:
                await stop_all(bots)
        finally:
            server.stop()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS / f"profile-{stamp}.txt"
    if perf:
        title = f"# perf (cpu-clock) on a Mosaic server, {publishers} publishers, {seconds:g} s\n"
        summary = perf_summary(collapsed)
    else:
        title = f"# py-spy on a Mosaic server, {publishers} publishers, {seconds:g} s" + (
            " (native, event loop thread)\n" if native else " (GIL holder)\n"
        )
        summary = summarize(collapsed, only="mosaic/cli.py" if native else None)
    path.write_text(
        title
        + summary
        + ("\n\n# perf script\n" if perf else "\n\n# collapsed stacks\n")
        + collapsed
        + ("\n# py-spy stderr\n" + stderr.decode() if stderr else "")
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--publishers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--native", action="store_true", help="C frames too (libsrtp, sendto)")
    parser.add_argument("--perf", action="store_true", help="Linux perf: the kernel's side too")
    parser.add_argument(environment.NETNS_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.in_netns and environment.can_unshare():
        command = ["unshare", "--net", "--", sys.executable, "-m", "bench.profile"]
        sys.stdout.flush()
        import os

        os.execvp("unshare", [*command, environment.NETNS_FLAG, *sys.argv[1:]])
    if args.in_netns:
        environment.set_up_namespace()
    env = environment.describe(args.in_netns)
    path = asyncio.run(profile(args.publishers, args.seconds, env, args.native, args.perf))
    print(path.read_text().split("\n\n# ")[0])
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
