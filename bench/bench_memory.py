"""Benchmark memory and garbage collection with many idle joined views of the served app.

The script bakes the template (its default options) into a temporary
directory, migrates a fresh SQLite database there and seeds it with a few
contacts. The server is the app's own ``python -m my_live_app`` (its uvicorn
options, WebSocket compression declined, its garbage collector set-up),
started through ``bench/served.py``, which adds the routes the bench reads:
``gc.collect()`` with counts, and the collector's pauses (``gc.callbacks``).

For each page and each number of views N, in a fresh server: 20 views join
and leave (warming up), the server collects, its RSS is read; then N
clients join the page as the official client does (GET, the socket with the
session cookie, ``phx_join``, a heartbeat every 30 s) and stay idle for a
while. Figures: the RSS growth divided by N after ``gc.collect()`` (memory per
idle joined view), objects the collector tracks and tasks per view, the
collector's pauses while the views joined and while they were idle (runs x
the longest, per generation), and the server's CPU while idle.

``/counter`` is a page with no real-time reach; ``/contacts`` subscribes to
the contacts and shows who else is on the page (a presence list that grows
with N: each view holds everyone), so it runs with fewer views.

The clients live in this process; the exit code is 0 whatever the figures
say: this is a report, not a test; it is 1 only when the app cannot be baked,
migrated or seeded.

Usage: ``python bench/bench_memory.py [--quick] [--views N ...] [--idle S] [--json]``
(``make bench-memory BENCH_ARGS=...``).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import resource
import sys
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection

from baking import App, AppServer, bake
from harness import BenchError, running, section
from results import columns, command_line, run_bench
from wire import HEARTBEAT, TIMEOUT, encode, hang_up, http_get, open_live

SECRET_KEY = "bench-memory: a throwaway key for a local benchmark"
SEED_COUNT = 20
WARMUP_VIEWS = 20
CONNECTING = 64  # clients joining at once
SETTLE = 1.0  # seconds after gc.collect() before reading RSS
PAGES = {"/counter": (1000, 10_000), "/contacts": (200,)}
QUICK = {"/counter": (500,), "/contacts": (100,)}
IDLE_SECONDS = 30.0  # a heartbeat from every client, once


class MemoryServer(AppServer):
    """The served app through ``served.py``: RSS, collections and pauses readable."""

    start_timeout = 60.0

    def command(self) -> list[str]:
        return [sys.executable, str(Path(__file__).parent / "served.py")]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONPATH"] += f":{Path(__file__).parent}"
        return env

    async def read(self, path: str) -> dict[str, t.Any]:
        status, _, body = await http_get(self.port, path)
        if status != 200:
            raise BenchError(f"{path} answered {status}")
        return t.cast(dict[str, t.Any], json.loads(body))

    async def settled(self) -> dict[str, t.Any]:
        """Collected, then RSS once the freed memory is given back (KiB), then the counts."""
        await self.read("/_bench/gc")
        await asyncio.sleep(SETTLE)
        tasks = await self.read("/_bench/gc")
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None, "no VmRSS in /proc/<pid>/status"
        return {**tasks, **await self.read("/_bench/objects"), "rss_kib": int(match.group(1))}

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100


@dataclass
class Tab:
    """A browser tab with a joined view, left idle but for phoenix.js's heartbeats."""

    port: int
    path: str
    ws: ClientConnection | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        opened = await open_live(self.port, self.path, compression=None, max_size=None)
        self.ws = opened.ws
        await self.ws.send(encode(["1", "1", opened.channel, "phx_join", opened.join]))
        async with asyncio.timeout(TIMEOUT):
            while True:  # a page that lists who is here may push before the reply
                _, ref, _, event, payload = json.loads(await self.ws.recv())
                if event == "phx_reply" and ref == "1":
                    break
        if payload.get("status") != "ok":
            raise OSError(f"join refused: {payload}")
        self.tasks = [asyncio.create_task(self._heartbeats()), asyncio.create_task(self._read())]

    async def _heartbeats(self) -> None:
        assert self.ws is not None
        await asyncio.sleep(random.uniform(0, HEARTBEAT))  # tabs opened at different times
        for ref in range(2, sys.maxsize):
            await self.ws.send(encode([None, str(ref), "phoenix", "heartbeat", {}]))
            await asyncio.sleep(HEARTBEAT)

    async def _read(self) -> None:
        assert self.ws is not None
        async for _ in self.ws:  # replies and pushes, read and dropped, as a tab would
            pass

    def close(self) -> None:
        hang_up(self.ws, self.tasks)


async def open_tabs(port: int, path: str, count: int) -> tuple[list[Tab], int]:
    """``count`` joined tabs (those that could join) and how many could not."""
    gate = asyncio.Semaphore(CONNECTING)

    async def one() -> Tab | None:
        tab = Tab(port, path)
        async with gate:
            try:
                await tab.open()
                return tab
            except (OSError, TimeoutError):
                tab.close()
                return None

    tabs = await asyncio.gather(*(one() for _ in range(count)))
    opened = [tab for tab in tabs if tab is not None]
    return opened, count - len(opened)


def longest(pauses: dict[str, t.Any]) -> dict[str, t.Any]:
    """Runs and the longest pause (ms) of each generation."""
    return {name: [gen["runs"], gen["longest_ms"]] for name, gen in pauses.items()}


async def memory_run(app: App, path: str, count: int, idle: float) -> dict[str, t.Any]:
    """One fresh server: ``count`` idle joined views of ``path``."""
    server = MemoryServer("app", app)
    async with running(server):
        warmup, _ = await open_tabs(server.port, path, WARMUP_VIEWS)
        for tab in warmup:
            tab.close()
        await asyncio.sleep(0.5)  # the server sees them gone
        base = await server.settled()
        await server.read("/_bench/pauses")
        started = time.perf_counter()
        tabs, failed = await open_tabs(server.port, path, count)
        join_seconds = time.perf_counter() - started
        joining = await server.read("/_bench/pauses")
        cpu, wall = server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(idle)
        idle_cpu = 100 * (server.cpu_seconds() - cpu) / (time.perf_counter() - wall)
        idling = await server.read("/_bench/pauses")
        state = await server.settled()
        for tab in tabs:
            tab.close()
        await asyncio.sleep(0.5)
    views = len(tabs) or 1
    return {
        "page": path,
        "views": len(tabs),
        "failed": failed,
        "join_seconds": join_seconds,
        "rss_base_kib": base["rss_kib"],
        "kib_per_view": (state["rss_kib"] - base["rss_kib"]) / views,
        "tracked_per_view": (state["tracked"] - base["tracked"]) / views,
        "tasks_per_view": (state["tasks"] - base["tasks"]) / views,
        "frozen": state["frozen"],
        "tracked_base": base["tracked"],
        "idle_seconds": idle,
        "idle_cpu_percent": idle_cpu,
        "gc_joining": longest(joining),
        "gc_idle": longest(idling),
        "server_log": server.warnings(),
    }


async def run(app: App, pages: dict[str, tuple[int, ...]], idle: float) -> dict[str, t.Any]:
    runs = []
    for path, counts in pages.items():
        for count in counts:
            runs.append(await section(memory_run(app, path, count, idle)))
    return {"runs": runs}


def pauses(figures: dict[str, t.Any]) -> str:
    return " ".join(f"{runs}x{ms:.0f}" for runs, ms in figures.values())


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the table."""

    def line(text: str = "") -> None:
        print(text, file=out)

    line(
        f"Memory and GC, the served app ({data['seconds']:.0f} s): uvicorn "
        f"{data['versions']['uvicorn']}; load average at start {data['load_average']}"
    )
    line("per idle joined view: RSS growth after gc.collect() / views; objects the GC tracks")
    header = [("page", 10), ("views", 7), ("join s", 7), ("base MiB", 9), ("KiB/view", 9)]
    header += [("objs/view", 10), ("tasks", 6), ("idle CPU", 9), ("frozen", 8)]
    line(columns(header) + "   GC runs x longest ms (gen0 gen1 gen2): joining | idle")
    for run in data["runs"]:
        if "skipped" in run:
            line(f"   skipped: {run['skipped']}")
            continue
        texts = [run["page"], f"{run['views']:,}", f"{run['join_seconds']:.0f}"]
        texts += [f"{run['rss_base_kib'] / 1024:.1f}", f"{run['kib_per_view']:.1f}"]
        texts += [f"{run['tracked_per_view']:.0f}", f"{run['tasks_per_view']:.1f}"]
        texts += [f"{run['idle_cpu_percent']:.1f}%", f"{run['frozen']:,}"]
        widths = [width for _, width in header]
        joining, idle = pauses(run["gc_joining"]), pauses(run["gc_idle"])
        line(columns(list(zip(texts, widths, strict=True))) + f"   {joining} | {idle}")
        if run["failed"]:
            line(f"      ! {run['failed']} views could not join")
        for text in run["server_log"]:
            line(f"      ! server: {text}")
    idle = data["idle_seconds"]
    line(f"   idle: {idle:.0f} s, with a heartbeat from each client every {HEARTBEAT:.0f} s")
    line("   frozen: objects gc.freeze() put out of collections (start-up's)")


def main(argv: list[str] | None = None) -> int:
    """Bake, migrate and seed; run each page and size in a fresh server; print the report."""
    parser = command_line(__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer views (about a minute)")
    parser.add_argument("--views", type=int, nargs="+", help="for /counter (default 1000 10000)")
    parser.add_argument("--idle", type=float, help=f"idle seconds (default {IDLE_SECONDS:.0f})")
    parser.add_argument("--page", action="append", choices=list(PAGES), help="only this page")
    args = parser.parse_args(argv)
    pages = dict(QUICK if args.quick else PAGES)
    if args.views:
        pages["/counter"] = tuple(args.views)
    if args.page:
        pages = {path: counts for path, counts in pages.items() if path in args.page}
    idle = args.idle if args.idle is not None else (5.0 if args.quick else IDLE_SECONDS)
    # One descriptor per tab here and per connection in the server, plus headroom.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max(count for counts in pages.values() for count in counts) + 1000
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))

    def figures(directory: Path) -> dict[str, t.Any]:
        app = App(bake(directory), directory / "memory.db", SECRET_KEY)
        app.migrate_and_seed(SEED_COUNT)
        return {"idle_seconds": idle, **asyncio.run(run(app, pages, idle))}

    return run_bench("bench_memory", figures, report, args.json, ("uvicorn",))


if __name__ == "__main__":
    sys.exit(main())
