"""Benchmark the runtime's real-time path: broadcasts, memory per view, event latency.

The servers are uvicorn processes serving this module's ``create_app`` (a
counter page, the baked app's ``counter.html``, whose view subscribes to the
topic in its URL and shows the last broadcast's number), served as the baked
app serves (its uvicorn options and its own WebSocket protocol: the script
runs itself with ``--serve``), on free ports of 127.0.0.1; the script stops
them at the end. The clients live in this process and do what the official client
does: GET the page, open the WebSocket with the session cookie (offering
permessage-deflate, as browsers do), ``phx_join``, and a heartbeat every 30 s.

1. broadcast → diff: N clients subscribed to a topic, half on process A and
   half on process B, both on one Redis; a publisher client on A clicks, its
   view broadcasts a number, and each client times the ``diff`` that carries
   it (from the click's send), the last of each round (when the whole crowd
   has it), the publisher's own reply, and the servers' CPU per diff
   delivered. Then the same in one process on ``memory://``, and PyView
   serving the same page in one process (``pyview_bench.py``, with uvicorn's
   defaults, permessage-deflate accepted, as PyView is run).
2. memory per view: one process's RSS growth (``/proc/<pid>/status``, after
   ``gc.collect()`` in the server) divided by N joined views, idle and after
   each view handled a few events; the process's CPU while idle. Once more
   with clients that do not offer permessage-deflate (the server declines it
   either way, as the baked app does: its zlib state would cost each view).
3. event latency under load: C clients each clicking once a second, spread
   evenly; the time from sending each click to its reply, and the server's
   full garbage collections meanwhile. Then the same with every client
   subscribed to a topic that gets a broadcast every second.

Latencies are measured in this process, so they include the clients' own
work (their event loop is uvloop's, as the servers' is, to keep it small):
the CPU columns say how busy this process, the servers and the rest of the
machine were (other work on a 2-core machine shows in the figures).
The exit code is 0 whatever the figures say: this is a report, not a test.

Usage: ``python bench/bench_realtime.py [--quick] [--json] [--only SECTION]
[--broadcast-setup memory|redis] [--clients 100,1000,2000] [--rounds N]``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import importlib
import importlib.util
import itertools
import json
import os
import random
import re
import resource
import sys
import time
import typing as t
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
import uvloop

from figures import CpuMeter, GcPauses, latency, percentile, process_cpu_seconds
from harness import GC_THRESHOLDS, BenchError, Process, running, use_runtime
from results import Row, columns, command_line, ms, run_bench
from wire import HEARTBEAT, TIMEOUT, encode, hang_up, http_get, open_live

PACKAGE_DIR = use_runtime("bench_realtime")

from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader  # noqa: E402
from live import (  # noqa: E402
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveEnvironment,
    LiveRoutes,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
)
from live.pubsub import create_pubsub  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from starlette.middleware.sessions import SessionMiddleware  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402
from websockets.asyncio.client import ClientConnection  # noqa: E402

# -- the app the servers run -----------------------------------------------------------------

PUBSUB_ENV = "BENCH_PUBSUB_URL"
PYVIEW_VERSION = "0.9.0"  # pyview_bench's server, the same page served by PyView
SECRET_KEY = "bench-realtime: a throwaway key for a local benchmark"
PAGE = "/bench"
# The baked counter page, plus the number of the last broadcast the view received.
BENCH_TEMPLATE = '{% include "counter.html" %}\n<p id="seq">{{ seq }}</p>'

Context = dict[str, t.Any]


class BenchLive(LiveView[Context]):
    """The counter, subscribed to ``?topic=`` when given; ``publish`` broadcasts a number."""

    template_name = "bench.html"

    async def mount(self, socket: LiveViewSocket[Context], session: dict[str, t.Any]) -> None:
        socket.context = {"count": 0, "step": 1, "seq": 0}

    async def handle_params(self, socket: LiveViewSocket[Context], topic: str = "") -> None:
        if topic:
            await socket.subscribe(topic)  # does nothing on the HTTP render

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[Context], topic: str = "", seq: int = 0
    ) -> None:
        if event == "increment":
            socket.context["count"] += 1
        elif event == "publish":
            await socket.broadcast(topic, {"seq": seq})
        else:
            raise UnhandledEvent(event)

    async def handle_info(self, event: InfoEvent, socket: ConnectedLiveViewSocket[Context]) -> None:
        socket.context["seq"] = event.payload["seq"]


gc_pauses = GcPauses()


async def pauses(request: Request) -> JSONResponse:
    """The collector's pauses since the last call."""
    return JSONResponse(gc_pauses.report())


async def collect(request: Request) -> JSONResponse:
    """Collect garbage now, so the RSS read next is settled; count tasks (and objects)."""
    gc.collect()
    body: dict[str, t.Any] = {"tasks": len(asyncio.all_tasks())}
    if request.query_params.get("types"):
        body["types"] = Counter(type(item).__qualname__ for item in gc.get_objects())
    return JSONResponse(body)


def create_app() -> Starlette:
    """The benchmark's server (``uvicorn --factory``): pub/sub from ``BENCH_PUBSUB_URL``."""
    pubsub = create_pubsub(os.environ.get(PUBSUB_ENV, "memory://"))
    environment = LiveEnvironment(
        auto_reload=False,  # as the baked app serves outside debug mode: no stat() per render
        loader=ChoiceLoader(
            [
                DictLoader({"bench.html": BENCH_TEMPLATE}),
                FileSystemLoader(PACKAGE_DIR / "templates"),
            ]
        )
    )
    environment.globals["app_name"] = "bench"
    gc.callbacks.append(gc_pauses)
    live = LiveRoutes(environment, SECRET_KEY, pubsub=pubsub)
    live.add(PAGE, BenchLive)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, t.Any]]:
        async with pubsub:
            # The baked app's collector set-up (its __main__): thresholds, start-up frozen.
            gc.set_threshold(*GC_THRESHOLDS)
            gc.collect()
            gc.freeze()
            yield {"pubsub": pubsub}

    return Starlette(
        routes=[*live.routes, Route("/_bench/gc", collect), Route("/_bench/pauses", pauses)],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY, same_site="lax")],
        lifespan=lifespan,
    )


# -- server processes ------------------------------------------------------------------------

# Every server runs with the baked app's limits (its __main__.server_options). Ours is
# served as the app serves: its own WebSocket protocol, compression declined, no pings.
# PyView keeps uvicorn's defaults for those, as it is run.
SERVER_OPTIONS: dict[str, t.Any] = {
    "host": "127.0.0.1", "http": "h11", "h11_max_incomplete_event_size": 65536,
    "ws_max_size": 1048576, "lifespan": "on", "log_level": "warning", "access_log": False,
    "timeout_graceful_shutdown": 5,
}  # fmt: skip
APP_WEBSOCKETS: dict[str, t.Any] = {"ws_per_message_deflate": False, "ws_ping_interval": None}
LOG_LINES_SHOWN = 5


def serve(port: int, pyview: bool) -> None:
    """Be one of the bench's servers (``--serve``): ``create_app`` on ``port``, with the app's
    WebSocket protocol, which the uvicorn command cannot name; or PyView's page."""
    if pyview:
        uvicorn.run("pyview_bench:create_app", factory=True, port=port, **SERVER_OPTIONS)
        return
    # The template's package, by another name: its folder's name is not one Python imports.
    spec = importlib.util.spec_from_file_location(
        "bench_app", PACKAGE_DIR / "__init__.py", submodule_search_locations=[str(PACKAGE_DIR)]
    )
    assert spec is not None and spec.loader is not None
    sys.modules[spec.name] = package = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(package)
    app_protocol = importlib.import_module("bench_app.websocket_protocol")
    uvicorn.run(
        create_app,
        factory=True,
        port=port,
        ws=app_protocol.WebSocketProtocol,
        **APP_WEBSOCKETS,
        **SERVER_OPTIONS,
    )


class Server(Process):
    """One server process of ``create_app`` on a free port, with its log in a temporary file."""

    start_timeout = 15.0
    tail_lines = 2  # the error, uvicorn's verdict
    reports_gc = True  # it serves ``/_bench/pauses``

    def __init__(self, name: str, pubsub_url: str) -> None:
        super().__init__(name)
        self.pubsub_url = pubsub_url

    pyview = False

    def command(self) -> list[str]:
        serve = [sys.executable, str(Path(__file__)), "--serve", str(self.port)]
        return [*serve, "--pyview"] if self.pyview else serve

    def environment(self) -> dict[str, str]:
        return {**os.environ, PUBSUB_ENV: self.pubsub_url}

    async def ready(self) -> bool:
        await self.collect()
        return True

    async def collect(self, types: bool = False) -> dict[str, t.Any]:
        """``gc.collect()`` in the server; its task count (and object counts by type)."""
        status, _, body = await http_get(self.port, "/_bench/gc?types=1" if types else "/_bench/gc")
        if status != 200:
            raise OSError(f"/_bench/gc answered {status}")
        return t.cast(dict[str, t.Any], json.loads(body))

    async def gc_pauses(self) -> dict[str, t.Any]:
        """The server's garbage collections since the last call (see ``GcPauses``)."""
        _, _, body = await http_get(self.port, "/_bench/pauses")
        return t.cast(dict[str, t.Any], json.loads(body))

    def rss_kib(self) -> int:
        """Resident memory now, from ``/proc/<pid>/status``."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None, "no VmRSS in /proc/<pid>/status"
        return int(match.group(1))

    def cpu_seconds(self) -> float:
        """User + system CPU time so far, from ``/proc/<pid>/stat``."""
        return process_cpu_seconds(self.pid)

    def warnings(self) -> dict[str, t.Any]:
        """What the server logged (warning level and up): a count and the first lines."""
        lines = self.log_lines()
        return {"lines": len(lines), "first": [line[:200] for line in lines[:LOG_LINES_SHOWN]]}


class PyViewServer(Server):
    """PyView serving the same page (``pyview_bench``), its pub/sub in the process."""

    reports_gc = False
    pyview = True


# -- clients ---------------------------------------------------------------------------------

CONNECTING = 64  # clients connecting at once


class Recorder:
    """What clients measured: reply latencies, and when each broadcast's diff arrived."""

    def __init__(self) -> None:
        self.replies: list[float] = []
        self.since = 0.0  # replies to clicks sent before this are not counted
        self.arrivals: dict[int, list[tuple[float, int]]] = {}  # seq → (time, server index)
        self.problems: Counter[str] = Counter()
        self._expected: dict[int, tuple[int, asyncio.Event]] = {}

    def expect(self, seq: int, count: int) -> asyncio.Event:
        """An event set once ``count`` diffs carrying ``seq`` have arrived."""
        done = asyncio.Event()
        self._expected[seq] = (count, done)
        return done

    def arrived(self, seq: int, when: float, server: int) -> None:
        arrivals = self.arrivals.setdefault(seq, [])
        arrivals.append((when, server))
        expected = self._expected.get(seq)
        if expected is not None and len(arrivals) >= expected[0]:
            expected[1].set()


@dataclass
class Client:
    """One browser tab on the bench page: its WebSocket and the replies it awaits."""

    port: int
    server: int  # index of its server, for per-process figures
    recorder: Recorder
    topic: str = ""  # the pub/sub topic its view subscribes to, if any
    deflate: bool = True  # offer permessage-deflate, as browsers do
    ws: ClientConnection | None = None
    channel: str = ""  # lv:<container id>
    join_ref: str = ""
    pending: dict[str, asyncio.Future[t.Any] | float | None] = field(default_factory=dict)
    _refs: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        """GET the page, connect its socket and join its view, as the browser does."""
        path = f"{PAGE}?topic={self.topic}" if self.topic else PAGE
        opened = await open_live(
            self.port,
            path,
            compression="deflate" if self.deflate else None,
            max_size=2**20,  # websockets' default
            error=OSError,
        )
        self.ws, self.channel = opened.ws, opened.channel
        self._tasks.append(asyncio.create_task(self._read()))
        ref = self.join_ref = self._next_ref()
        reply = await self._call(ref, ref, self.channel, "phx_join", opened.join)
        if reply.get("status") != "ok":
            raise OSError(f"join refused: {reply}")
        self._tasks.append(asyncio.create_task(self._heartbeats()))

    def _next_ref(self) -> str:
        return str(next(self._refs))

    async def _send(self, frame: list[t.Any]) -> None:
        assert self.ws is not None
        await self.ws.send(encode(frame))

    async def _call(
        self, join_ref: str | None, ref: str, topic: str, event: str, payload: t.Any
    ) -> dict[str, t.Any]:
        reply: asyncio.Future[t.Any] = asyncio.get_running_loop().create_future()
        self.pending[ref] = reply
        await self._send([join_ref, ref, topic, event, payload])
        return t.cast(dict[str, t.Any], await asyncio.wait_for(reply, TIMEOUT))

    async def click(self, event: str, value: dict[str, str] | None = None) -> str:
        """Send a ``phx-click``; its reply's latency goes to the recorder. Returns its ref."""
        ref = self._next_ref()
        payload = {"type": "click", "event": event, "value": {"value": "", **(value or {})}}
        self.pending[ref] = time.perf_counter()
        await self._send([self.join_ref, ref, self.channel, "event", payload])
        return ref

    async def heartbeat(self) -> None:
        """A heartbeat, answered by the server as it reads it: its round trip is how long the
        server's loop keeps this socket waiting."""
        await self._call(None, self._next_ref(), "phoenix", "heartbeat", {})

    async def click_and_wait(self, event: str) -> None:
        payload = {"type": "click", "event": event, "value": {"value": ""}}
        await self._call(self.join_ref, self._next_ref(), self.channel, "event", payload)

    async def _heartbeats(self) -> None:
        await asyncio.sleep(random.uniform(0, HEARTBEAT))  # tabs opened at different times
        while True:
            ref = self._next_ref()
            self.pending[ref] = None
            await self._send([None, ref, "phoenix", "heartbeat", {}])
            await asyncio.sleep(HEARTBEAT)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for text in self.ws:
                now = time.perf_counter()
                _, ref, _, event, payload = json.loads(text)
                if event == "phx_reply":
                    self._replied(ref, now, payload)
                elif event == "diff":
                    seq = broadcast_number(payload)
                    if seq is None:
                        self.recorder.problems["diff without a broadcast number"] += 1
                    else:
                        self.recorder.arrived(seq, now, self.server)
                else:
                    self.recorder.problems[f"server sent {event}"] += 1
        except Exception as exc:  # the connection dropped: say so in the report
            self.recorder.problems[f"connection lost: {type(exc).__name__}"] += 1

    def _replied(self, ref: str, now: float, payload: dict[str, t.Any]) -> None:
        waiting = self.pending.pop(ref, None)
        if isinstance(waiting, asyncio.Future):
            if not waiting.done():
                waiting.set_result(payload)
        elif isinstance(waiting, float):
            if waiting >= self.recorder.since:
                self.recorder.replies.append(now - waiting)
            if payload.get("status") != "ok":
                self.recorder.problems[f"reply {payload.get('status')}"] += 1

    def unanswered(self) -> int:
        return sum(isinstance(waiting, float) for waiting in self.pending.values())

    def close(self) -> None:
        """Drop the connection at once (a closed tab), and stop this client's tasks."""
        hang_up(self.ws, self._tasks)


def broadcast_number(diff: t.Any) -> int | None:
    """The broadcast number a ``diff`` push carries: its one changed value (``<p id="seq">``)."""
    values = [value for key, value in diff.items() if key not in ("t", "e")]
    while len(values) == 1 and isinstance(values[0], dict):
        values = list(values[0].values())
    if len(values) == 1 and isinstance(values[0], str) and values[0].isdigit():
        return int(values[0])
    return None


async def open_clients(
    count: int, servers: list[Server], recorder: Recorder, topic: str = "", deflate: bool = True
) -> list[Client]:
    """``count`` joined clients, spread over ``servers`` in turn; failures are counted."""
    gate = asyncio.Semaphore(CONNECTING)

    async def one(index: int) -> Client | None:
        server = index % len(servers)
        client = Client(servers[server].port, server, recorder, topic, deflate)
        async with gate:
            try:
                await client.open()
                return client
            except (OSError, TimeoutError) as exc:
                recorder.problems[f"could not join: {type(exc).__name__}: {exc}"[:120]] += 1
                client.close()
                return None

    clients = await asyncio.gather(*(one(index) for index in range(count)))
    return [client for client in clients if client is not None]


async def open_publisher(server: Server) -> Client:
    """The client whose clicks broadcast; a section cannot run without it."""
    recorder = Recorder()
    clients = await open_clients(1, [server], recorder)
    if not clients:
        raise BenchError(f"the publisher could not join {server.name}: {dict(recorder.problems)}")
    return clients[0]


async def close_clients(clients: list[Client]) -> None:
    for client in clients:
        client.close()
    await asyncio.sleep(0.5)  # let the server see the disconnects before it is stopped


# -- 1. broadcast → diff ---------------------------------------------------------------------

ROUND_GAP = 0.2  # seconds between broadcasts, after the previous one arrived everywhere
BYSTANDER_GAP = 0.01  # seconds between a bystander's heartbeats
WARMUP_ROUNDS = 2


async def bystanding(client: Client, round_trips: list[float]) -> None:
    """Heartbeats one after another, until cancelled: each round trip is kept."""
    while True:
        sent = time.perf_counter()
        await client.heartbeat()
        round_trips.append(time.perf_counter() - sent)
        await asyncio.sleep(BYSTANDER_GAP)


def settle_collector() -> None:
    """Put the clients just opened out of this process's collections (``gc.freeze``), as the
    app does with what it starts up with: a full collection through them all would pause
    every client at once, which the figures would charge to the server."""
    gc.collect()
    gc.freeze()


async def longest_gc_pause(servers: list[Server]) -> float | None:
    """The servers' longest garbage collection (ms) since the last call; None if they
    do not say."""
    if not all(server.reports_gc for server in servers):
        return None
    reports = [await server.gc_pauses() for server in servers]
    return max(figures["longest_ms"] for report in reports for figures in report.values())


async def broadcast_rounds(
    servers: list[Server], count: int, rounds: int, topic: str
) -> dict[str, t.Any]:
    """``count`` subscribers spread over ``servers``; a publisher on the first broadcasts.

    Per round: every diff's arrival, the last one's (when the whole crowd has it), and the
    publisher's own reply; the servers' CPU over the measured rounds, per subscriber reached.
    """
    recorder = Recorder()
    clients = await open_clients(count, servers, recorder, topic)
    publisher = await open_publisher(servers[0])
    bystander = await open_publisher(servers[0])  # subscribed to nothing: another socket
    settle_collector()
    round_trips: list[float] = []
    heartbeats: asyncio.Task[None] | None = None
    cpu: CpuMeter | None = None
    samples: list[float] = []
    firsts: list[float] = []
    lasts: list[float] = []
    by_server: dict[int, list[float]] = {index: [] for index in range(len(servers))}
    missing = 0
    try:
        for seq in range(1, WARMUP_ROUNDS + rounds + 1):
            if seq == WARMUP_ROUNDS + 1:
                await longest_gc_pause(servers)  # from here on
                cpu = CpuMeter(servers, own="client")
                publisher.recorder.replies.clear()
                heartbeats = asyncio.create_task(bystanding(bystander, round_trips))
            everywhere = recorder.expect(seq, len(clients))
            sent = time.perf_counter()
            await publisher.click("publish", {"topic": topic, "seq": str(seq)})
            try:
                await asyncio.wait_for(everywhere.wait(), TIMEOUT)
            except TimeoutError:
                pass
            arrivals = recorder.arrivals.get(seq, [])
            if seq > WARMUP_ROUNDS:
                missing += len(clients) - len(arrivals)
                if arrivals:
                    firsts.append(min(when for when, _ in arrivals) - sent)
                    lasts.append(max(when for when, _ in arrivals) - sent)
                for when, server in arrivals:
                    samples.append(when - sent)
                    by_server[server].append(when - sent)
            await asyncio.sleep(ROUND_GAP)
        assert cpu is not None
        cpu_use, used = cpu.percent(), cpu.used()
        gc_pause = await longest_gc_pause(servers)
    finally:
        if heartbeats is not None:
            heartbeats.cancel()
        await close_clients([*clients, publisher, bystander])
    reached = max(1, rounds * len(clients) - missing)
    return {
        "clients": len(clients),
        "rounds": rounds,
        **latency(samples),
        "first_p50_ms": percentile(firsts, 0.5) * 1000,
        "last": latency(lasts),
        "publisher_reply": latency(publisher.recorder.replies),
        "bystander_heartbeat": latency(round_trips),
        "server_cpu_ms_per_subscriber": used.servers * 1000 / reached,
        "server_gc_longest_ms": gc_pause,
        "by_server": {servers[index].name: latency(values) for index, values in by_server.items()},
        "missing": missing,
        **cpu_use,
        "problems": dict(recorder.problems),
    }


BROADCAST_SETUPS = {
    "redis": "redis, 2 processes",
    "memory": "memory, 1 process",
    "pyview": f"PyView {PYVIEW_VERSION}, 1 process",
}


async def bench_broadcast(
    counts: list[int], rounds: int, redis_url: str, chosen: list[str]
) -> dict[str, t.Any]:
    """Across two processes on Redis, then in one process on ``memory://`` (those ``chosen``)."""
    results: dict[str, t.Any] = {}
    setups = {
        BROADCAST_SETUPS["redis"]: [Server("A", redis_url), Server("B", redis_url)],
        BROADCAST_SETUPS["memory"]: [Server("A", "memory://")],
        BROADCAST_SETUPS["pyview"]: [PyViewServer("A", "memory://")],
    }
    for name, servers in setups.items():
        if name not in [BROADCAST_SETUPS[key] for key in chosen]:
            continue
        try:
            async with running(*servers):
                runs = []
                for count in counts:
                    topic = f"bench:{os.getpid()}:{count}:{time.time_ns()}"
                    runs.append(await broadcast_rounds(servers, count, rounds, topic))
                results[name] = {
                    "runs": runs,
                    "server_log": {server.name: server.warnings() for server in servers},
                }
        except (BenchError, OSError, TimeoutError) as exc:  # a server swamped on a busy machine
            results[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return results


# -- 2. memory per view ----------------------------------------------------------------------

SETTLE = 1.0  # seconds after gc.collect() before reading RSS
IDLE_SECONDS = 10.0
EVENTS_PER_VIEW = 3
WARMUP_CLIENTS = 20
TOP_TYPES = 8


async def memory_run(count: int, idle_seconds: float, deflate: bool) -> dict[str, t.Any]:
    """RSS and tasks of one process before and after ``count`` joined views, idle then used.

    ``deflate``: the clients offer permessage-deflate, which uvicorn accepts.
    """
    server = Server("A", "memory://")
    async with running(server):
        warmup = await open_clients(WARMUP_CLIENTS, [server], Recorder(), deflate=deflate)
        await asyncio.gather(*(client.click_and_wait("increment") for client in warmup))
        await close_clients(warmup)
        base = await settled(server)
        recorder = Recorder()
        started = time.perf_counter()
        clients = await open_clients(count, [server], recorder, deflate=deflate)
        connect_seconds = time.perf_counter() - started
        idle = await settled(server)
        cpu_before, wall_before = server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(idle_seconds)
        idle_cpu = 100 * (server.cpu_seconds() - cpu_before) / (time.perf_counter() - wall_before)
        gate = asyncio.Semaphore(CONNECTING * 4)

        async def use(client: Client) -> None:
            async with gate:
                for _ in range(EVENTS_PER_VIEW):
                    await client.click_and_wait("increment")

        results = await asyncio.gather(*(use(client) for client in clients), return_exceptions=True)
        failed = sum(isinstance(result, BaseException) for result in results)
        used = await settled(server)
        await close_clients(clients)
    views = len(clients) or 1
    return {
        "views": len(clients),
        "deflate": deflate,
        "connect_seconds": connect_seconds,
        "rss_base_kib": base["rss_kib"],
        "idle_kib_per_view": (idle["rss_kib"] - base["rss_kib"]) / views,
        "used_kib_per_view": (used["rss_kib"] - base["rss_kib"]) / views,
        "tasks_per_view": (idle["tasks"] - base["tasks"]) / views,
        "idle_cpu_percent": idle_cpu,
        "idle_seconds": idle_seconds,
        "events_per_view": EVENTS_PER_VIEW,
        "events_failed_views": failed,
        "objects_per_view": {
            name: round((idle["types"].get(name, 0) - base["types"].get(name, 0)) / views, 1)
            for name, _ in (Counter(idle["types"]) - Counter(base["types"])).most_common(TOP_TYPES)
        },
        "problems": dict(recorder.problems),
        "server_log": server.warnings(),
    }


async def settled(server: Server) -> dict[str, t.Any]:
    """The server's RSS, tasks and objects once its garbage is collected and freed."""
    state = await server.collect(types=True)
    await asyncio.sleep(SETTLE)
    await server.collect()
    return {**state, "rss_kib": server.rss_kib()}


async def bench_memory(counts: list[int], idle_seconds: float) -> dict[str, t.Any]:
    """Each count with permessage-deflate (as browsers connect), the first without."""
    setup = "one process, memory://"
    try:
        runs = [await memory_run(count, idle_seconds, True) for count in counts]
        return {setup: {"runs": [*runs, await memory_run(counts[0], idle_seconds, False)]}}
    except BenchError as exc:
        return {setup: {"skipped": str(exc)}}


# -- 3. event latency under load -------------------------------------------------------------

WARMUP_SECONDS = 1.0


async def click_for(
    clients: list[Client],
    seconds: float,
    publisher: Client | None,
    topic: str,
    numbers: t.Iterator[int],
) -> dict[int, float]:
    """Each client clicks once a second, spread evenly; ``publisher`` broadcasts every second.

    Returns when each broadcast (by its number) was sent.
    """
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.01
    count = len(clients)
    next_broadcast = start
    sent: dict[int, float] = {}
    for index in range(int(seconds * count)):
        due = start + index / count
        while publisher is not None and next_broadcast <= due:
            await asyncio.sleep(next_broadcast - loop.time())
            seq = next(numbers)
            sent[seq] = time.perf_counter()
            await publisher.click("publish", {"topic": topic, "seq": str(seq)})
            next_broadcast += 1.0
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await clients[index % count].click("increment")
    return sent


async def load_run(
    server: Server, clients: list[Client], seconds: float, publisher: Client | None, topic: str
) -> dict[str, t.Any]:
    """One warm-up second, then ``seconds`` of clicks; reply (and broadcast) latencies."""
    recorder = Recorder()
    for client in clients:
        client.recorder = recorder
    numbers = itertools.count(1)
    await click_for(clients, WARMUP_SECONDS, publisher, topic, numbers)
    recorder.since = time.perf_counter()
    recorder.replies.clear()
    await server.gc_pauses()
    cpu = CpuMeter([server], own="client")
    sent = await click_for(clients, seconds, publisher, topic, numbers)
    cpu_use = cpu.percent()
    gc_use = await server.gc_pauses()
    deadline = time.monotonic() + TIMEOUT
    while any(client.unanswered() for client in clients) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    broadcasts = [
        when - sent[seq]
        for seq, arrivals in recorder.arrivals.items()
        if seq in sent
        for when, _ in arrivals
    ]
    return {
        "clients": len(clients),
        "seconds": seconds,
        **latency(recorder.replies),
        "unanswered": sum(client.unanswered() for client in clients),
        "broadcast": latency(broadcasts) if publisher is not None else None,
        **cpu_use,
        "server_gc": gc_use,
        "problems": dict(recorder.problems),
    }


async def bench_load(counts: list[int], seconds: float) -> dict[str, t.Any]:
    """Without, then with, a broadcast every second to every client; one server each."""
    results: dict[str, t.Any] = {}
    for subscribed in (False, True):
        name = "subscribed + broadcasts" if subscribed else "clicks only"
        topic = f"bench:{os.getpid()}:load" if subscribed else ""
        server = Server("A", "memory://")
        clients: list[Client] = []
        try:
            async with running(server):
                publisher = await open_publisher(server) if subscribed else None
                runs = []
                try:
                    for count in counts:
                        more = count - len(clients)
                        clients += await open_clients(more, [server], Recorder(), topic)
                        runs.append(await load_run(server, clients, seconds, publisher, topic))
                finally:
                    await close_clients([*clients, *([publisher] if publisher else [])])
                results[name] = {"runs": runs, "server_log": server.warnings()}
        except (BenchError, OSError, TimeoutError) as exc:  # a server swamped on a busy machine
            results[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return results


# -- report ----------------------------------------------------------------------------------

REFERENCE_LOAD = {1000: (0.9, 3.5), 2000: (1.1, 56.0)}  # clients → p50, p99 ms, before real-time
REFERENCE_MEMORY = "about 37 KiB per idle joined view, 80 KiB once it has handled events"


def cpu(run: dict[str, t.Any], key: str) -> str:
    return f"{run[key]:.0f}%"


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable tables."""

    def line(text: str = "") -> None:
        print(text, file=out)

    def problems(result: dict[str, t.Any], indent: str = "      ") -> None:
        for problem, count in result.get("problems", {}).items():
            line(f"{indent}! {count} x {problem}")
        logs = result.get("server_log", {})
        for name, log in logs.items() if "lines" not in logs else [("", logs)]:
            if log["lines"]:
                line(f"{indent}! server {name} logged {log['lines']} lines, the first:")
                for text in log["first"]:
                    line(f"{indent}    {text}")

    def sections(name: str) -> t.Iterator[tuple[str, dict[str, t.Any]]]:
        """Each setup of a section with its runs; a skipped one is said and left out."""
        for setup, result in data[name].items():
            if "skipped" in result:
                line(f"   {setup}: skipped: {result['skipped']}")
            else:
                yield setup, result

    versions = data["versions"]
    line(
        f"Real-time benchmark ({data['mode']}, {data['seconds']:.0f} s): Python "
        f"{versions['python']}, uvicorn {versions['uvicorn']} (h11, the app's WebSocket "
        f"protocol, loop auto), uvloop {versions['uvloop']}, websockets {versions['websockets']}, "
        f"redis-py {versions['redis']}, "
        f"{versions['cpus']} CPUs; load average at start {data['load_average']}"
    )
    line("CPU columns: % of one core over the measured stretch; 'other' is the rest of the machine")
    if "broadcast" in data:
        line()
        line(
            "1. broadcast -> diff: a publisher's click on A, to the diff at each subscribed client"
        )
        header: Row = [("setup", 20), ("clients", 8), ("rounds", 7), ("first", 8), ("p50 ms", 9)]
        header += [("p99 ms", 9), ("max ms", 9), ("last p50", 9), ("last p99", 9)]
        header += [("reply p99", 10), ("beat p99", 9), ("CPU/sub", 8), ("gc max", 7)]
        header += [("missing", 8), ("servers", 8)]
        header += [("client", 7)]
        line(columns([*header, ("other", 7)]) + "   per process p50 / p99 ms")
        for setup, result in sections("broadcast"):
            for run in result["runs"]:
                per = ", ".join(
                    f"{name} {ms(figures['p50_ms'])} / {ms(figures['p99_ms'])}"
                    for name, figures in run["by_server"].items()
                )
                texts = [setup, f"{run['clients']:,}", str(run["rounds"])]
                texts += [ms(run[key]) for key in ("first_p50_ms", "p50_ms", "p99_ms", "max_ms")]
                texts += [ms(run["last"]["p50_ms"]), ms(run["last"]["p99_ms"])]
                texts += [ms(run["publisher_reply"]["p99_ms"])]
                texts += [ms(run["bystander_heartbeat"]["p99_ms"])]
                texts += [f"{run['server_cpu_ms_per_subscriber']:.3f}"]
                pause = run.get("server_gc_longest_ms")
                texts += ["-" if pause is None else ms(pause)]
                texts += [str(run["missing"]), cpu(run, "server_cpu_percent")]
                texts += [cpu(run, "client_cpu_percent"), cpu(run, "other_cpu_percent")]
                widths = [width for _, width in header] + [7]
                line(columns(list(zip(texts, widths, strict=True))) + f"   {per}")
                problems(run)
            problems(result, "   ")
        line("   first: median over rounds of the earliest diff's arrival; last: of the latest,")
        line("   when every subscriber has it (p50 / p99 over rounds); reply p99: the publisher's")
        line("   own reply; beat p99: a heartbeat's round trip on another socket of A, one after")
        line("   another during the rounds; CPU/sub: the servers' CPU ms per diff delivered;")
        line("   gc max: the servers' longest garbage collection in the rounds (ms)")
    if "memory" in data:
        line()
        line("2. memory per joined view, one process (memory://): RSS growth / views, after gc")
        line(f"   reference before real-time: {REFERENCE_MEMORY}")
        header = [("views", 8), ("deflate", 8), ("join s", 8), ("base MiB", 9), ("idle KiB", 9)]
        header += [("used KiB", 9), ("tasks", 6), ("idle CPU", 9)]
        line(columns(header) + f"   used: after {EVENTS_PER_VIEW} events each; per view")
        for _, result in sections("memory"):
            for run in result["runs"]:
                texts = [f"{run['views']:,}", "yes" if run["deflate"] else "no"]
                texts += [f"{run['connect_seconds']:.1f}", f"{run['rss_base_kib'] / 1024:.1f}"]
                texts += [f"{run['idle_kib_per_view']:.1f}", f"{run['used_kib_per_view']:.1f}"]
                texts += [f"{run['tasks_per_view']:.1f}", f"{run['idle_cpu_percent']:.1f}%"]
                line(columns(list(zip(texts, [width for _, width in header], strict=True))))
                objects = ", ".join(
                    f"{name} {count}" for name, count in run["objects_per_view"].items()
                )
                line(f"      gc-tracked objects per view: {objects}")
                if run["events_failed_views"]:
                    line(f"      ! {run['events_failed_views']} views failed their events")
                problems(run)
        line("   deflate: the clients offer permessage-deflate (browsers do); the server declines")
    if "load" in data:
        line()
        line("3. event latency: each client clicks once a second, spread evenly; click -> reply")
        reference = "; ".join(
            f"{count:,} clients p50 {p50} / p99 {p99} ms"
            for count, (p50, p99) in REFERENCE_LOAD.items()
        )
        line(f"   reference before real-time: {reference}")
        header = [("setup", 24), ("clients", 8), ("clicks", 8), ("p50 ms", 8), ("p99 ms", 8)]
        header += [("max ms", 8), ("lost", 5), ("server", 7), ("client", 7), ("other", 6)]
        header += [("gen2 gc", 8)]
        line(columns(header) + "   broadcast p50 / p99 ms")
        for setup, result in sections("load"):
            for run in result["runs"]:
                broadcast = run["broadcast"]
                pushed = (
                    f"{ms(broadcast['p50_ms'])} / {ms(broadcast['p99_ms'])}" if broadcast else "-"
                )
                gen2 = run["server_gc"]["gen2"]
                texts = [setup, f"{run['clients']:,}", f"{run['samples']:,}"]
                texts += [ms(run[key]) for key in ("p50_ms", "p99_ms", "max_ms")]
                texts += [str(run["unanswered"]), cpu(run, "server_cpu_percent")]
                texts += [cpu(run, "client_cpu_percent"), cpu(run, "other_cpu_percent")]
                texts += [f"{gen2['runs']}x{gen2['longest_ms']:.0f}"]
                line(
                    columns(list(zip(texts, [w for _, w in header], strict=True))) + f"   {pushed}"
                )
                problems(run)
            problems(result, "   ")
        line("   gen2 gc: the server's full collections in the stretch x the longest pause (ms)")


# -- main ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    """How much each section does."""

    broadcast_clients: list[int]
    broadcast_rounds: int
    memory_views: list[int]
    idle_seconds: float
    load_clients: list[int]
    load_seconds: float


FULL = Sizes([100, 1000], 30, [1000, 10_000], IDLE_SECONDS, [1000, 2000], 15.0)
QUICK = Sizes([50, 200], 10, [200, 1000], 3.0, [200, 400], 4.0)
SECTIONS = ("broadcast", "memory", "load")


def raise_fd_limit(needed: int) -> int:
    """Raise this process's (and so the servers') open-file limit as far as allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard == resource.RLIM_INFINITY else min(hard, max(soft, needed))
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def run(
    sizes: Sizes, sections: list[str], redis_url: str, setups: list[str]
) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {}
    if "broadcast" in sections:
        data["broadcast"] = await bench_broadcast(
            sizes.broadcast_clients, sizes.broadcast_rounds, redis_url, setups
        )
    if "memory" in sections:
        data["memory"] = await bench_memory(sizes.memory_views, sizes.idle_seconds)
    if "load" in sections:
        data["load"] = await bench_load(sizes.load_clients, sizes.load_seconds)
    return data


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, then print the report."""
    parser = command_line(__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (about a minute)")
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only this section (repeatable)"
    )
    parser.add_argument(
        "--redis-url", default="redis://127.0.0.1:6379/0", help="Redis for section 1"
    )
    parser.add_argument(
        "--broadcast-setup",
        action="append",
        choices=list(BROADCAST_SETUPS),
        help="section 1 on this backend only (repeatable)",
    )
    parser.add_argument(
        "--clients",
        type=lambda text: [int(count) for count in text.split(",")],
        help="comma-separated client counts for sections 1 and 3 (e.g. 100,1000,2000)",
    )
    parser.add_argument("--rounds", type=int, help="broadcasts measured per count in section 1")
    parser.add_argument("--serve", type=int, metavar="PORT", help="be one of the bench's servers")
    parser.add_argument("--pyview", action="store_true", help="with --serve: PyView's page")
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.pyview)
        return 0
    sizes = QUICK if args.quick else FULL
    if args.clients or args.rounds:
        sizes = dataclasses.replace(
            sizes,
            broadcast_clients=args.clients or sizes.broadcast_clients,
            broadcast_rounds=args.rounds or sizes.broadcast_rounds,
            load_clients=args.clients or sizes.load_clients,
        )
    sections = args.only or list(SECTIONS)
    # One descriptor per client here and per connection in the server, plus headroom.
    limit = raise_fd_limit(max(sizes.memory_views + sizes.load_clients) + 1000)

    def figures(_: Path) -> dict[str, t.Any]:
        setups = args.broadcast_setup or list(BROADCAST_SETUPS)
        return {
            "mode": "quick" if args.quick else "full",
            "open_files_limit": limit,
            "sizes": sizes.__dict__,
            **uvloop.run(run(sizes, sections, args.redis_url, setups)),
        }

    packages = ("uvicorn", "websockets", "redis", "uvloop")
    return run_bench("bench_realtime", figures, report, args.json, packages)


if __name__ == "__main__":
    sys.exit(main())
