"""Figures: latency percentiles, and the CPU a stretch of a benchmark used, by whom.

CPU is read from ``/proc`` (the servers', the machine's) and ``getrusage``
(this process's): figures taken while the rest of the machine is busy say
less about the app.
"""

from __future__ import annotations

import math
import os
import resource
import time
import typing as t
from pathlib import Path

from harness import Process

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def latency(values: list[float]) -> dict[str, t.Any]:
    """p50/p99/max in milliseconds of latencies in seconds."""
    return {
        "samples": len(values),
        "p50_ms": percentile(values, 0.50) * 1000,
        "p99_ms": percentile(values, 0.99) * 1000,
        "max_ms": max(values, default=math.nan) * 1000,
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def own_cpu_seconds() -> float:
    """User + system CPU time of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used, from ``/proc/stat``."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS  # up to steal; guests are counted in user


class CpuUse(t.NamedTuple):
    """Seconds of a stretch: its wall time, and the CPU time used meanwhile."""

    wall: float
    own: float  # this process
    servers: float
    other: float  # the rest of the machine


class CpuMeter:
    """CPU used from its creation on: this process (``own``), the servers, everything else."""

    def __init__(self, servers: t.Sequence[Process], own: str = "bench") -> None:
        self.servers = servers
        self.own = own  # what this process is called in ``percent``'s keys
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        return (
            time.perf_counter(),
            own_cpu_seconds(),
            sum(process_cpu_seconds(server.pid) for server in self.servers),
            machine_busy_seconds(),
        )

    def used(self) -> CpuUse:
        """The stretch so far, in seconds."""
        wall, own, servers, machine = (
            end - start for start, end in zip(self._start, self._read(), strict=True)
        )
        return CpuUse(wall, own, servers, max(0.0, machine - own - servers))

    def percent(self) -> dict[str, float]:
        """The stretch so far, in % of one core."""
        used = self.used()
        return {
            f"{self.own}_cpu_percent": 100 * used.own / used.wall,
            "server_cpu_percent": 100 * used.servers / used.wall,
            "other_cpu_percent": 100 * used.other / used.wall,
        }


class GcPauses:
    """The garbage collector's runs in this process and how long they paused it, by generation."""

    def __init__(self) -> None:
        self._started = 0.0
        self.reset()

    def reset(self) -> None:
        self.runs = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.longest = [0.0, 0.0, 0.0]

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        now = time.perf_counter()
        if phase == "start":
            self._started = now
            return
        generation, pause = info["generation"], now - self._started
        self.runs[generation] += 1
        self.seconds[generation] += pause
        self.longest[generation] = max(self.longest[generation], pause)

    def report(self) -> dict[str, t.Any]:
        """Runs, total and longest pause (ms) of each generation since the last report."""
        figures = {
            f"gen{generation}": {
                "runs": self.runs[generation],
                "total_ms": self.seconds[generation] * 1000,
                "longest_ms": self.longest[generation] * 1000,
            }
            for generation in range(3)
        }
        self.reset()
        return figures
