"""Benchmark presence at scale: many lobby presences from one client, as a bystander sees them.

The script bakes the template (its default options) into a temporary
directory, migrates a fresh SQLite database there, and serves that app's own
``python -m my_live_app`` (``memory://``) on a free port of 127.0.0.1. Then,
for each size N:

1. a bystander tab joins ``/lobby`` and sends a heartbeat every
   ``--heartbeat-every`` seconds, timing each reply; it merges every diff it
   is pushed into its page, as the official client does;
2. one client, in a process of its own, opens N more lobby tabs (each its
   own page and socket, as a browser's tabs, ``--concurrency`` at a time):
   N presences join;
3. once the bystander has heard nothing for a second, the N tabs hang up:
   N presences leave.

For each phase: the server's CPU seconds, the bystander's heartbeat
latency (p50/p99/max), the diff bytes the bystander was pushed per
presence, and how often its view crashed (``phx_error``). The bystander's
page must end each phase showing everyone (its "who's here" count), or the
run says so.

Latencies are measured in the bystander's process, which does nothing else
(the crowd's work would otherwise delay its clock); the CPU columns say how
busy the server and the rest of the machine were. The exit code is 0 whatever
the figures say: this is a report, not a test; it is 1 only when the app
cannot be baked or migrated.

Usage: ``python bench/bench_presence.py [--sizes 150 300] [--json]`` (``make bench-presence``).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import itertools
import json
import re
import sys
import time
import typing as t
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection

from baking import PACKAGE, App, AppServer, bake
from figures import CpuMeter, latency
from harness import BenchError, running, section
from results import Row, columns, command_line, ms, run_bench
from wire import HEARTBEAT, TIMEOUT, encode, hang_up, open_live

SECRET_KEY = "bench-presence: a throwaway key for a local benchmark"
LOBBY = "/lobby"
QUIET = 1.0  # seconds without a frame at the bystander: the phase has settled
SETTLE_TIMEOUT = 600.0
PEOPLE = re.compile(r'<li class="person ')
MORE = re.compile(r"and (\d+) more")


@dataclass
class Bystander:
    """A lobby tab that times its heartbeats and merges the diffs it is pushed."""

    port: int
    every: float
    ws: ClientConnection | None = None
    channel: str = ""
    join: dict[str, t.Any] = field(default_factory=dict)
    join_ref: str = ""
    page: t.Any = None
    heartbeats: list[float] = field(default_factory=list)
    diff_bytes: int = 0
    crashes: int = 0
    last_frame: float = 0.0
    problems: Counter[str] = field(default_factory=Counter)
    _sent: dict[str, float] = field(default_factory=dict)
    _refs: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _joined: asyncio.Event = field(default_factory=asyncio.Event)

    async def open(self) -> None:
        opened = await open_live(self.port, LOBBY, compression=None, max_size=None)
        self.ws, self.channel, self.join = opened.ws, opened.channel, opened.join
        self._tasks.append(asyncio.create_task(self._read()))
        await self._rejoin()
        self._tasks.append(asyncio.create_task(self._heartbeats()))

    async def _rejoin(self) -> None:
        """Join (again, after a crash, as the official client does)."""
        assert self.ws is not None
        self._joined.clear()
        self.join_ref = str(next(self._refs))
        frame = [self.join_ref, self.join_ref, self.channel, "phx_join", self.join]
        await self.ws.send(encode(frame))
        await asyncio.wait_for(self._joined.wait(), TIMEOUT)

    async def _heartbeats(self) -> None:
        assert self.ws is not None
        while True:
            ref = str(next(self._refs))
            self._sent[ref] = time.perf_counter()
            await self.ws.send(encode([None, ref, "phoenix", "heartbeat", {}]))
            await asyncio.sleep(self.every)

    async def _read(self) -> None:
        assert self.ws is not None
        rendered = importlib.import_module(f"{PACKAGE}.live.testing.rendered").Rendered
        try:
            async for text in self.ws:
                now = time.perf_counter()
                _, ref, topic, event, payload = json.loads(text)
                if topic != "phoenix":
                    self.last_frame = now
                if topic == "phoenix":
                    sent = self._sent.pop(ref, None)
                    if sent is not None:
                        self.heartbeats.append(now - sent)
                elif event == "phx_reply" and ref == self.join_ref:
                    if payload.get("status") != "ok":
                        raise BenchError(f"the bystander's join was refused: {str(payload)[:200]}")
                    self.page = rendered(payload["response"]["rendered"])
                    self._joined.set()
                elif event == "diff":
                    self.diff_bytes += len(json.dumps(payload, separators=(",", ":")).encode())
                    self.page.merge(rendered.extract(payload).diff)
                elif event == "phx_error":
                    self.crashes += 1
                    self._tasks.append(asyncio.create_task(self._rejoin()))
        except Exception as exc:  # the connection dropped: say so in the report
            self.problems[f"connection lost: {type(exc).__name__}: {str(exc)[:80]}"] += 1

    def people(self) -> int:
        """How many people the bystander's panel says are here (shown and "and N more")."""
        html = self.page.html if self.page is not None else ""
        more = MORE.search(html)
        return len(PEOPLE.findall(html)) + (int(more.group(1)) if more else 0)

    async def settled(self, people: int) -> None:
        """Wait until the panel shows ``people`` and nothing more arrives for ``QUIET`` seconds."""
        try:
            async with asyncio.timeout(SETTLE_TIMEOUT):
                while (
                    self.people() != people
                    or not self._joined.is_set()
                    or time.perf_counter() - self.last_frame < QUIET
                ):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            self.problems[f"the panel shows {self.people()} people, not {people}"] += 1

    def close(self) -> None:
        hang_up(self.ws, self._tasks)


@dataclass
class Visitor:
    """One of the client's lobby tabs: joins, reads and forgets what it is sent."""

    port: int
    ws: ClientConnection | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        opened = await open_live(self.port, LOBBY, compression=None, max_size=None)
        self.ws = opened.ws  # (open_live's steps are bounded by TIMEOUT: they need no view)
        await self.ws.send(encode(["1", "1", opened.channel, "phx_join", opened.join]))
        async with asyncio.timeout(SETTLE_TIMEOUT):  # the server may be far behind
            async for text in self.ws:
                if '"phx_reply"' in text:
                    break
        if '"ok"' not in text:
            raise BenchError(f"a visitor's join was refused: {str(text)[:200]}")
        self._tasks.append(asyncio.create_task(self._drain()))

    async def _drain(self) -> None:
        assert self.ws is not None
        heartbeat = time.perf_counter()
        async for _ in self.ws:
            if time.perf_counter() - heartbeat > HEARTBEAT / 2:  # not idle, as phoenix.js
                heartbeat = time.perf_counter()
                await self.ws.send(encode([None, "h", "phoenix", "heartbeat", {}]))

    def close(self) -> None:
        hang_up(self.ws, self._tasks)


def phase(bystander: Bystander, cpu: CpuMeter, crashes: int, presences: int) -> dict[str, t.Any]:
    used = cpu.used()
    return {
        "server_cpu_seconds": used.servers,
        "other_cpu_seconds": used.other,
        "wall_seconds": used.wall,
        "heartbeat": latency(bystander.heartbeats),
        "diff_bytes_per_presence": bystander.diff_bytes / presences,
        "crashes": bystander.crashes - crashes,
    }


class Crowd:
    """The client's N lobby tabs, in a process of their own (``--crowd``).

    A bystander is somebody else, on another machine: the crowd's own work
    (opening and dropping N sockets) must not delay the bystander's clock.
    """

    def __init__(self, port: int, presences: int, concurrency: int) -> None:
        self.arguments = [str(port), str(presences), str(concurrency)]
        self.process: asyncio.subprocess.Process | None = None

    async def arrive(self) -> None:
        """Start the process; return once every tab has joined."""
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--crowd", *self.arguments,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        await self._expect("joined")

    async def leave(self) -> None:
        """Every tab hangs up at once."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(b"leave\n")
        await self._expect("left")

    async def _expect(self, word: str) -> None:
        assert self.process is not None and self.process.stdout is not None
        async with asyncio.timeout(SETTLE_TIMEOUT):
            line = (await self.process.stdout.readline()).decode().strip()
        if line != word:
            raise BenchError(f"the crowd said {line[:200]!r}, not {word!r}")

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def crowd(port: int, presences: int, concurrency: int) -> None:
    """The crowd process: join N tabs, say so, hang them all up when told to."""
    visitors = [Visitor(port) for _ in range(presences)]
    gate = asyncio.Semaphore(concurrency)

    async def arrive(visitor: Visitor) -> None:
        async with gate:
            await visitor.open()

    try:
        await asyncio.gather(*(arrive(visitor) for visitor in visitors))
        print("joined", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    finally:
        for visitor in visitors:
            visitor.close()
    print("left", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the bench kills this process when done


async def bench_size(app: App, presences: int, every: float, concurrency: int) -> dict[str, t.Any]:
    """N presences join, then leave, while a bystander watches."""
    server = AppServer("app", app)
    async with running(server):
        bystander = Bystander(server.port, every)
        visitors = Crowd(server.port, presences, concurrency)
        try:
            await bystander.open()
            await asyncio.sleep(QUIET)  # its own join's diffs, and a few heartbeats at rest
            result: dict[str, t.Any] = {"presences": presences}
            for name in ("join", "leave"):
                bystander.heartbeats, bystander.diff_bytes = [], 0
                crashes, cpu = bystander.crashes, CpuMeter([server])
                if name == "join":
                    await visitors.arrive()
                    await bystander.settled(presences + 1)
                else:
                    await visitors.leave()
                    await bystander.settled(1)
                result[name] = phase(bystander, cpu, crashes, presences)
            result["problems"] = dict(bystander.problems)
            result["server_warnings"] = server.warnings()
            return result
        finally:
            await visitors.close()
            bystander.close()


async def run(app: App, args: argparse.Namespace) -> dict[str, t.Any]:
    runs = []
    for size in args.sizes:
        runs.append(await section(bench_size(app, size, args.heartbeat_every, args.concurrency)))
    return {"runs": runs}


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    line(f"bench_presence: {data['versions']}; load average {data['load_average']}")
    line("N lobby presences from one client join, then leave; a bystander lobby watches")
    header: Row = [("phase", 12), ("server s", 9), ("other s", 8), ("wall s", 7)]
    header += [("hb p50", 8), ("hb p99", 8), ("hb max", 8), ("B/pres.", 8), ("crashes", 8)]
    line(columns(header) + "   (hb: bystander heartbeat reply, ms; B: diff bytes it was pushed)")
    for result in data["runs"]:
        if "skipped" in result:
            line(f"   skipped: {result['skipped']}")
            continue
        for name in ("join", "leave"):
            figures = result[name]
            beat = figures["heartbeat"]
            texts = [f"{result['presences']} {name}", f"{figures['server_cpu_seconds']:.2f}"]
            texts += [f"{figures['other_cpu_seconds']:.2f}", f"{figures['wall_seconds']:.1f}"]
            texts += [ms(beat["p50_ms"]), ms(beat["p99_ms"]), ms(beat["max_ms"])]
            texts += [f"{figures['diff_bytes_per_presence']:.0f}", str(figures["crashes"])]
            line(columns(list(zip(texts, [width for _, width in header], strict=True))))
        for problem, count in result["problems"].items():
            line(f"      ! {problem} (x{count})")
        for warning in result["server_warnings"]:
            line(f"      server: {warning}")


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["--crowd"]:
        port, presences, concurrency = map(int, arguments[1:4])
        asyncio.run(crowd(port, presences, concurrency))
        return 0
    parser = command_line(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[150, 300], help="presences")
    parser.add_argument("--concurrency", type=int, default=16, help="tabs opening at once")
    parser.add_argument(
        "--heartbeat-every", type=float, default=0.05, help="seconds between bystander heartbeats"
    )
    args = parser.parse_args(arguments)
    if not all(0 < size <= 2000 for size in args.sizes) or args.concurrency < 1:
        parser.error("--sizes from 1 to 2000, --concurrency at least 1")

    def figures(directory: Path) -> dict[str, t.Any]:
        app = App(bake(directory), directory / "bench.db", SECRET_KEY)
        app.run("-m", "alembic", "upgrade", "head")
        return asyncio.run(run(app, args))

    return run_bench("bench_presence", figures, report, args.json, ("uvicorn", "websockets"))


if __name__ == "__main__":
    sys.exit(main())
