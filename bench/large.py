"""The largest meeting a server holds with every viewer at >= 24 fps (``--only large``).

A large class or webinar (issue 14): N participants, the first K with their camera on (sent in
simulcast, three layers), the first few of those speaking (microphone on), everyone else's
microphone off (they publish no audio, as a muted web client sends none), and every bot
viewing a page of tiles at thumbnail size (160x90: the quarter layer). N and K grow step by
step, each step on a fresh server, until the target fails:

* **target**: every bot joined and receives, and every viewer gets >= `TARGET_FPS` frames per
  second on average over the tiles it views, none of them missing. A tile's frame rate is
  read at the viewer's socket: frames are the marked RTP packets of its video SSRC
  (`mosaic.bots.counting`), over the measured window.
* per step: N, K, tiles per viewer, fps per viewer (its mean and its worst tile; p50 and p5
  over viewers), the frame rate the publishers sent (their smallest layer: if the bots send
  less than 30, the load generator, not the server, is short), the server's CPU (user and
  system, every process of it), the packets/s the bots received by kind, the bots' own CPU
  (this process: every bot runs in it) and the machine's load.

Servers: Mosaic with one worker; Mosaic with two (`--workers 2 --redis-url`, the meeting's
media spread by `--worker-capacity` N/2); Janus VideoRoom (one room) with the same bots,
clips and load (`mosaic.bots.janus_bot`: the same simulcast offer, the smallest layer subscribed).

Every process runs on this machine: the bots share its cores with the server, which is why
their CPU is reported next to every step; and a one-process load generator is capped at one
core (`bots_saturated`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.cluster import RedisProcess
from bench.environment import Environment
from bench.meetings import janus_room, open_meeting
from bench.plan import Plan
from bench.procstat import cpu_times, sample
from bench.servers import JanusProcess, MosaicProcess, ServerProcess
from bench.stats import percentile, ratio, rounded
from mosaic.bots.base import Bot, MediaMode
from mosaic.bots.counting import PacketTally, by_kind, codec_names
from mosaic.bots.janus_bot import JanusBot
from mosaic.bots.mosaic_bot import MAX_PAGE_TILES, MosaicBot
from mosaic.bots.swarm import start_all, stop_all, wait_for_media
from mosaic.cluster import keys as cluster_keys
from mosaic.cluster.registry import WorkerLoad

TARGET_FPS = 24.0
SENT_FPS_FLOOR = 28.0  # publishers sending less: the load generator could not keep up
BOTS_SATURATED = 0.9  # CPU-s/s of the bots' one process: it has (nearly) one core and no more
SERVERS = ("mosaic", "mosaic-2-workers", "janus")


# -- who does what ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Role:
    camera: bool
    speaker: bool

    @property
    def mode(self) -> MediaMode:
        if self.camera:
            return MediaMode.VIDEO
        return MediaMode.AUDIO_ONLY if self.speaker else MediaMode.NONE


def roles(people: int, cameras: int, speakers: int) -> list[Role]:
    """The first ``cameras`` bots show their camera, the first ``speakers`` speak (a webinar's
    panel: faces and voices); the rest watch with their microphone off."""
    return [Role(camera=i < cameras, speaker=i < speakers) for i in range(people)]


def expected_tiles(role: Role, cameras: int) -> int:
    """Cameras a viewer has on its page: every camera but its own, at most a page."""
    return min(cameras - (1 if role.camera else 0), MAX_PAGE_TILES)


def _muted(bot: Bot, role: Role) -> Bot:
    """A camera without a voice publishes its video only (a muted microphone sends nothing)."""
    if role.camera and not role.speaker:
        base: Any = bot
        base.tracks = dataclasses.replace(base.tracks, audio=None)
    return bot


def make_bot(server: str, url: str, room: Any, index: int, role: Role, address: str) -> Bot:
    """Bot ``index`` for Mosaic (a page of 49 thumbnails) or Janus (every camera's smallest
    layer, which is the same page while there are at most 49 cameras)."""
    name = f"bot{index}"
    bot: Bot
    if server == "janus":
        bot = JanusBot(
            url, room, name, mode=role.mode, local_addresses=[address],
            simulcast=True, thumbnails=True,
        )  # fmt: skip
    else:
        bot = MosaicBot(
            room.join_url, name, cookies=room.cookies, mode=role.mode,
            local_addresses=[address], simulcast=True, view_tiles=MAX_PAGE_TILES,
        )  # fmt: skip
    return _muted(bot, role)


async def join_everyone(bots: list[Bot], remake: Callable[[int], Bot]) -> tuple[list[Bot], int]:
    """Start every bot; one that could not join (a WebSocket handshake timing out on a busy
    machine) is replaced by a fresh one and tried once more, as a person would click again.
    ``bots`` gets the replacements in their places; returns those that joined and how many
    were retried."""
    started = {id(bot) for bot in await start_all(bots)}
    failed = [i for i, bot in enumerate(bots) if id(bot) not in started]
    for index in failed:
        with contextlib.suppress(Exception):
            await bots[index].stop()
        bots[index] = remake(index)
    if failed:
        started |= {id(bot) for bot in await start_all([bots[i] for i in failed])}
    return [bot for bot in bots if id(bot) in started], len(failed)


# -- what the bots received ------------------------------------------------------------------


def _names(bot: Bot) -> dict[int, str]:
    """Payload type -> codec of the bot's receiving connection."""
    pc = getattr(bot, "subscriber_pc", None)
    participant = getattr(bot, "participant", None)
    if participant is not None:
        pc = participant.media.subscriber
    description = pc.remoteDescription if pc is not None else None
    return codec_names(description.sdp) if description is not None else {}


@dataclasses.dataclass
class Snapshot:
    """Everything read at one end of the window."""

    at: float
    server_user_s: float
    server_system_s: float
    bots_user_s: float
    bots_system_s: float
    machine_busy_s: float
    server_waiting_s: float  # runnable but not running (on a run queue), every thread
    bots_waiting_s: float
    machine_total_s: float
    packets: int
    payload_types: list[dict[int, int]]  # per bot: RTP packets by payload type
    frames: list[dict[tuple[int, int], int]]  # per bot: (payload type, SSRC) -> frames
    sent: list[int]  # per bot: frames its smallest layer sent (0 without a camera)


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / ticks, sum(fields) / ticks


def _sent(bot: Bot) -> int:
    layers = getattr(bot, "tracks", None) and bot.tracks.layers  # type: ignore[attr-defined]
    if not layers:
        return 0
    smallest = next(iter(layers.layers.values()))
    return int(getattr(smallest, "sent", 0))


def waiting(pid: int) -> float:
    """Seconds the threads of ``pid`` and of its descendants spent runnable but waiting for a
    core (/proc/<pid>/task/<tid>/schedstat, second field): a server that waits much while
    using little CPU was starved by the machine, not saturated."""
    total = 0
    for current in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/schedstat") as stat:
                    total += int(stat.read().split()[1])
    return total / 1e9


def snapshot(
    server_times: Callable[[], tuple[float, float]], bots: list[Bot], server_pid: int
) -> Snapshot:
    user, system = server_times()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    busy, total = _machine()
    return Snapshot(
        at=time.monotonic(),
        server_user_s=user,
        server_system_s=system,
        bots_user_s=usage.ru_utime,
        bots_system_s=usage.ru_stime,
        machine_busy_s=busy,
        server_waiting_s=waiting(server_pid),
        bots_waiting_s=waiting(os.getpid()),
        machine_total_s=total,
        packets=sum(b.received() for b in bots),
        payload_types=[dict(b.tally.by_payload_type) for b in bots],  # type: ignore[attr-defined]
        frames=[dict(b.tally.frames) for b in bots],  # type: ignore[attr-defined]
        sent=[_sent(b) for b in bots],
    )


def tile_rates(
    before: dict[tuple[int, int], int],
    after: dict[tuple[int, int], int],
    video_types: set[int],
    tiles: int,
    seconds: float,
) -> list[float]:
    """Frames per second of a viewer's ``tiles`` best video streams over the window; a tile
    that delivered nothing counts as 0 (it is on the page and shows nothing)."""
    rates = sorted(
        (
            (count - before.get(key, 0)) / seconds
            for key, count in after.items()
            if key[0] in video_types
        ),
        reverse=True,
    )[:tiles]
    return rates + [0.0] * (tiles - len(rates))


def viewer_figures(rates_per_viewer: list[list[float]]) -> dict[str, Any]:
    """Per viewer the mean over its tiles and its worst tile; p50 and p5 over viewers; and
    whether every viewer reaches the target."""
    means = [sum(r) / len(r) for r in rates_per_viewer if r]
    worst = [min(r) for r in rates_per_viewer if r]
    return {
        "viewers": len(means),
        "fps_mean_p50": rounded(percentile(means, 0.5), 1),
        "fps_mean_p5": rounded(percentile(means, 0.05), 1),
        "fps_mean_min": rounded(min(means), 1) if means else None,
        "fps_worst_tile_p50": rounded(percentile(worst, 0.5), 1),
        "fps_worst_tile_p5": rounded(percentile(worst, 0.05), 1),
        "fps_worst_tile_min": rounded(min(worst), 1) if worst else None,
        "tiles_missing": sum(r.count(0.0) for r in rates_per_viewer),
        "every_viewer_at_target": bool(means)
        and min(means) >= TARGET_FPS
        and all(0.0 not in r for r in rates_per_viewer),
    }


def step_figures(
    a: Snapshot,
    b: Snapshot,
    bots: list[Bot],
    people_roles: list[Role],
    cameras: int,
) -> dict[str, Any]:
    seconds = b.at - a.at
    kinds: dict[str, float] = {}
    for index, bot in enumerate(bots):  # named by the codecs the bot's connection has now
        before, after = a.payload_types[index], b.payload_types[index]
        window = PacketTally(by_payload_type={t: n - before.get(t, 0) for t, n in after.items()})
        for kind, count in by_kind(window, _names(bot)).items():
            kinds[kind] = kinds.get(kind, 0) + count / seconds
    rates = []
    for index, (bot, role) in enumerate(zip(bots, people_roles, strict=True)):
        tiles = expected_tiles(role, cameras)
        if tiles <= 0:
            continue
        video = {pt for pt, name in _names(bot).items() if name.lower() == "vp8"}
        rates.append(tile_rates(a.frames[index], b.frames[index], video, tiles, seconds))
    sent = [(b.sent[i] - a.sent[i]) / seconds for i, role in enumerate(people_roles) if role.camera]
    server_cpu = (b.server_user_s - a.server_user_s) + (b.server_system_s - a.server_system_s)
    bots_cpu = (b.bots_user_s - a.bots_user_s) + (b.bots_system_s - a.bots_system_s)
    packets = b.packets - a.packets
    machine_total = b.machine_total_s - a.machine_total_s
    frames_per_s = sum(sum(r) for r in rates)
    # A tile faster than any publisher sent is counted twice (a bot that replaced its
    # connection hears the old one too, under the same SSRC: see `restarted`): it is
    # counted, and capped at what was sent so that it cannot lift its viewer's mean.
    ceiling = max(sent, default=0.0)
    over = sum(1 for r in rates for fps in r if ceiling and fps > ceiling * 1.1)
    if ceiling:
        rates = [[min(fps, ceiling) for fps in r] for r in rates]
    video_per_s = kinds.get("video", 0.0)
    return {
        "window_s": round(seconds, 2),
        **viewer_figures(rates),
        # Which layer the viewers got: the quarter layer is about one packet per frame, the
        # full one three or more.
        "frames_per_s": round(frames_per_s, 1),
        "tiles_above_sent_fps": over,
        "video_packets_per_frame": rounded(ratio(video_per_s, frames_per_s), 2),
        "sent_fps_p5": rounded(percentile(sent, 0.05), 1),
        "sent_fps_min": rounded(min(sent), 1) if sent else None,
        "server_cpu_per_s": round(server_cpu / seconds, 3),
        "server_user_per_s": round((b.server_user_s - a.server_user_s) / seconds, 3),
        "server_system_per_s": round((b.server_system_s - a.server_system_s) / seconds, 3),
        "packets_per_s": round(packets / seconds, 1),
        "packets_per_s_by_kind": {k: round(v, 1) for k, v in kinds.items()},
        "us_per_packet": rounded(server_cpu / packets * 1e6 if packets else None, 1),
        "bots_cpu_per_s": round(bots_cpu / seconds, 3),
        "bots_user_per_s": round((b.bots_user_s - a.bots_user_s) / seconds, 3),
        "bots_system_per_s": round((b.bots_system_s - a.bots_system_s) / seconds, 3),
        "bots_saturated": bots_cpu / seconds >= BOTS_SATURATED,
        "machine_busy_share": rounded(
            (b.machine_busy_s - a.machine_busy_s) / machine_total if machine_total else None, 3
        ),
        "load_average": round(os.getloadavg()[0], 2),
        # Seconds per second spent waiting for a core: the server's (all its threads
        # together) and the bots'. Starved, not saturated, when it is large.
        "server_runqueue_wait_per_s": round((b.server_waiting_s - a.server_waiting_s) / seconds, 3),
        "bots_runqueue_wait_per_s": round((b.bots_waiting_s - a.bots_waiting_s) / seconds, 3),
    }


async def media_per_worker(redis_url: str) -> list[int]:
    """Participants whose media each live worker terminates, from their last heartbeats (the
    registry's ``media_participants``): both non-zero, and the meeting spans the workers."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        ids = sorted(m.decode() for m in await client.smembers(cluster_keys.WORKERS))
        loads = [await client.hgetall(cluster_keys.worker(i)) for i in ids]
    finally:
        await client.aclose()
    return [
        WorkerLoad.parse(i, fields).media_participants for i, fields in zip(ids, loads, strict=True)
    ]


def restarted(bots: list[Bot]) -> dict[str, dict[str, int]]:
    """Connections each Mosaic bot gave up on and replaced, by kind (`mosaic.client.watchdog`:
    a starved machine makes bots give up). A tile can then arrive on the old connection and
    the new one under the same SSRC, and read above the 30 fps sent: a step with restarts
    has its frame rates read with that in mind."""
    found = {}
    for bot in bots:
        participant = getattr(bot, "participant", None)
        if participant is not None:
            replaced = {k: w.replaced for k, w in participant.media.watchdogs.items() if w.replaced}
            if replaced:
                found[bot.name] = replaced
    return found


# -- the servers -----------------------------------------------------------------------------


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of a process and its live descendants (the workers of
    ``--workers 2`` under their supervisor)."""
    user = system = 0.0
    for current in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            u, s = cpu_times(current)
            user, system = user + u, system + s
    return user, system


@contextlib.asynccontextmanager
async def serving(server: str, people: int, env: Environment, data_dir: Path) -> Any:
    """A fresh server for one step: (process, a room for the bots, its CPU reader)."""
    redis: RedisProcess | None = None
    process: ServerProcess | None = None
    try:
        if server == "janus":
            assert env.janus_interface is not None
            janus = JanusProcess(env.janus_interface)
            process = janus.start()
            room: Any = await janus_room(janus.url, publishers=people + 2)
        else:
            args: tuple[str, ...] = ()
            if server == "mosaic-2-workers":
                redis = RedisProcess().start()
                await redis.ready()
                args = (
                    "--redis-url", redis.url, "--workers", "2", "--signups-per-hour", "10000",
                    "--worker-capacity", str(math.ceil(people / 2)),
                )  # fmt: skip
            mosaic = MosaicProcess(data_dir, env.media_address, extra_args=args)
            process = mosaic.start()
            room = await open_meeting(mosaic.url)
        pid = process.pid
        whole_tree = server == "mosaic-2-workers"

        def times() -> tuple[float, float]:
            if whole_tree:
                return tree_times(pid)
            now = sample(pid)
            return now.user_s, now.system_s

        yield process, room, times, redis
    finally:
        if process is not None:
            process.stop()
        if redis is not None:
            redis.stop()


async def measure(
    server: str, people: int, cameras: int, plan: Plan, env: Environment
) -> dict[str, Any]:
    """One step: a fresh server, ``people`` bots of whom ``cameras`` show their camera."""
    speakers = min(plan.large_speakers, people)
    people_roles = roles(people, cameras, speakers)
    result: dict[str, Any] = {
        "server": server,
        "people": people,
        "cameras": cameras,
        "speakers": speakers,
        "tiles_per_viewer": expected_tiles(Role(camera=False, speaker=False), cameras),
    }
    with tempfile.TemporaryDirectory(prefix="bench-large-") as data_dir:
        async with serving(server, people, env, Path(data_dir)) as served:
            process, room, times, redis = served
            url = getattr(process, "url", "")

            def remake(index: int) -> Bot:
                role = people_roles[index]
                return make_bot(server, url, room, index, role, env.media_address)

            bots = [remake(i) for i in range(people)]
            joining = time.monotonic()
            try:
                started, result["join_retries"] = await join_everyone(bots, remake)
                result["join_s"] = round(time.monotonic() - joining, 1)
                flowing = await wait_for_media(
                    started, minimum=50, timeout=plan.media_timeout_s + people * 0.2
                )
                await asyncio.sleep(plan.large_warmup_s)
                first = snapshot(times, bots, process.pid)
                await asyncio.sleep(plan.large_window_s)
                last = snapshot(times, bots, process.pid)
                silent = [b.name for b in bots if b.received() == 0]
                restarts = restarted(bots)
                if redis is not None:  # where the meeting's media is: did it span?
                    result["media_per_worker"] = await media_per_worker(redis.url)
                errors = {b.name: b.error for b in bots if b.error}
                rss = process.sample().rss_bytes if server != "mosaic-2-workers" else None
            finally:
                await stop_all(bots)
    figures = step_figures(first, last, bots, people_roles, cameras)
    every_bot = len(started) == people and flowing and not silent
    result.update(
        joined=len(started),
        all_receiving=every_bot,
        silent_bots=silent,
        restarts=restarts,
        errors=errors,
        rss_mb=round(rss / 2**20, 1) if rss else None,
        **figures,
    )
    result["at_target"] = every_bot and figures["every_viewer_at_target"]
    # Publishers that sent under 28 fps, or bots at a full core: the load generator (or the
    # machine under it) was short, and a miss says nothing about the server.
    short = figures["sent_fps_min"] is not None and figures["sent_fps_min"] < SENT_FPS_FLOOR
    result["load_generator_short"] = short or figures["bots_saturated"]
    return result


# -- the run ---------------------------------------------------------------------------------


async def run(plan: Plan, env: Environment) -> dict[str, Any]:
    skipped: dict[str, str] = {}
    servers = list(SERVERS)
    if env.janus_interface is None:
        skipped["janus"] = env.janus_problem or "janus cannot run here"
    growing = [s for s in servers if s not in skipped]
    runs: list[dict[str, Any]] = []
    for index, (people, cameras) in enumerate(plan.large_steps):
        order = growing if index % 2 == 0 else list(reversed(growing))
        for server in order:
            # A miss is measured again once, on a fresh server (a shared machine has bad
            # seconds); the step fails only when both attempts miss. Both are kept.
            for attempt in (1, 2):
                print(
                    f"  large: {server}, {people} people, {cameras} cameras"
                    f" (attempt {attempt}) ...",
                    flush=True,
                )
                step = await _attempt(server, people, cameras, plan, env)
                step["attempt"] = attempt
                runs.append(step)
                print("    " + _summary(step), flush=True)
                if step["at_target"]:
                    break
        growing = [s for s in growing if _passed(runs, s, people)]
        if not growing:
            break
    return {
        "target_fps": TARGET_FPS,
        "skipped": skipped,
        "runs": runs,
        "largest": largest(runs),
        "comparison": compare(runs),
    }


async def _attempt(
    server: str, people: int, cameras: int, plan: Plan, env: Environment
) -> dict[str, Any]:
    try:
        return await measure(server, people, cameras, plan, env)
    except Exception as exc:  # a server that fell over at this size: its knee
        return {
            "server": server, "people": people, "cameras": cameras, "at_target": False,
            "load_generator_short": False, "failed": f"{type(exc).__name__}: {exc}",
        }  # fmt: skip


def _passed(runs: list[dict[str, Any]], server: str, people: int) -> bool:
    return any(r["at_target"] for r in runs if r["server"] == server and r["people"] == people)


def _summary(step: dict[str, Any]) -> str:
    if "failed" in step:
        return f"FAILED: {step['failed']}"
    return (
        f"fps/viewer p50 {step['fps_mean_p50']} p5 {step['fps_mean_p5']}"
        f" (worst tile p5 {step['fps_worst_tile_p5']}), sent p5 {step['sent_fps_p5']},"
        f" server {step['server_cpu_per_s']} CPU-s/s (waited"
        f" {step['server_runqueue_wait_per_s']} s/s for a core), bots {step['bots_cpu_per_s']},"
        f" {step['packets_per_s']:.0f} pkt/s, at target: {step['at_target']}"
    )


def largest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per server, the largest step at the target (people, cameras) and the first that was
    not (None: never reached, or the plan ended before)."""
    found: dict[str, Any] = {}
    for server in dict.fromkeys(r["server"] for r in runs):
        own = [r for r in runs if r["server"] == server]
        good = [r for r in own if r["at_target"]]
        sizes = dict.fromkeys(r["people"] for r in own)
        bad = [p for p in sizes if not _passed(runs, server, p)]
        last_miss = [r for r in own if bad and r["people"] == bad[0]][-1:] or [{}]
        found[server] = {
            "people": good[-1]["people"] if good else None,
            "cameras": good[-1]["cameras"] if good else None,
            "failed_at": bad[0] if bad else None,
            # Whose miss it was: the load generator (or the machine under it) was short, or
            # the server was.
            "failed_because": (
                None
                if not bad
                else "load generator short"
                if last_miss[0].get("load_generator_short")
                else "server"
            ),
        }
    return found


def compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mosaic (one worker) / Janus per step where both reached the target (the same load
    delivered in full): server CPU, µs per packet, packets/s."""
    rows = []
    for people in dict.fromkeys(r["people"] for r in runs):
        by_server = {r["server"]: r for r in runs if r["people"] == people and r["at_target"]}
        mosaic, janus = by_server.get("mosaic"), by_server.get("janus")
        if mosaic is None or janus is None:
            continue
        rows.append(
            {
                "people": people,
                "cameras": mosaic["cameras"],
                "server_cpu_ratio": rounded(
                    ratio(mosaic["server_cpu_per_s"], janus["server_cpu_per_s"]), 2
                ),
                "us_per_packet_ratio": rounded(
                    ratio(mosaic["us_per_packet"], janus["us_per_packet"]), 2
                ),
                "packets_per_s_ratio": rounded(
                    ratio(mosaic["packets_per_s"], janus["packets_per_s"]), 2
                ),
            }
        )
    return rows


def lines(section: dict[str, Any]) -> list[str]:
    """The section of the printed table."""
    found = [
        f"Largest meeting at >= {section['target_fps']:g} fps per viewed tile"
        " (simulcast cameras, thumbnail pages, bots on the same cores)"
    ]
    for server, why in section.get("skipped", {}).items():
        found.append(f"  {server}: skipped: {why}")
    header = (
        "  server            people cams  fps p50/p5  worst p5  sent p5  server CPU u+s (wait)"
        "   pkt/s  us/pkt  bots CPU  ok"
    )
    found.append(header)
    for r in section["runs"]:
        if "failed" in r:
            found.append(f"  {r['server']:<17} {r['people']:>6} {r['cameras']:>4}  {r['failed']}")
            continue
        found.append(
            f"  {r['server']:<17} {r['people']:>6} {r['cameras']:>4}"
            f"  {r['fps_mean_p50']}/{r['fps_mean_p5']}  {r['fps_worst_tile_p5']}"
            f"  {r['sent_fps_p5']}  {r['server_user_per_s']}+{r['server_system_per_s']}"
            f" ({r.get('server_runqueue_wait_per_s')})"
            f"  {r['packets_per_s']:.0f}  {r['us_per_packet']}  {r['bots_cpu_per_s']}"
            f"{' (saturated)' if r['bots_saturated'] else ''}  {'yes' if r['at_target'] else 'NO'}"
        )
    for server, best in section.get("largest", {}).items():
        found.append(
            f"  {server}: largest at target {best['people']} people ({best['cameras']} cameras);"
            f" failed at {best['failed_at']} ({best['failed_because']})"
        )
    for row in section.get("comparison", []):
        found.append(
            f"  {row['people']} people: Mosaic/Janus server CPU x{row['server_cpu_ratio']},"
            f" us/packet x{row['us_per_packet_ratio']}, packets/s x{row['packets_per_s_ratio']}"
        )
    return found
