"""What the kernel says a process has used: CPU time and resident memory, from /proc.

CPU is utime + stime of the process (all its threads: Janus forwards on several), in clock
ticks converted to seconds; not wall time, so a busy machine does not inflate it. Memory is
VmRSS (what the process holds in RAM now) and VmHWM (its peak).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class ProcessSample:
    cpu_s: float  # user + system CPU seconds since the process started
    user_s: float
    system_s: float  # in the kernel: sendto, recvfrom, epoll...
    rss_bytes: int
    peak_rss_bytes: int


def cpu_times(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of the whole process, all threads."""
    with open(f"/proc/{pid}/stat") as stat:
        # The command name (field 2) may hold spaces; everything after its ")" is numeric.
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICKS, int(fields[12]) / TICKS


def memory(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name[:-1]] = int(amount) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


def sample(pid: int) -> ProcessSample:
    rss, peak = memory(pid)
    user, system = cpu_times(pid)
    return ProcessSample(user + system, user, system, rss, peak)
