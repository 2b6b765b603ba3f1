"""Benchmark the contacts CRUD sample: diff sizes, save -> diff latency, list render time.

The script bakes the template (its default options) into a temporary
directory, migrates a fresh SQLite database there (``alembic upgrade head``)
and fills it with ``python -m my_live_app.seed --count 300``. The servers are
that app's own ``python -m my_live_app`` processes (its uvicorn options, its
GC thresholds) on free ports of 127.0.0.1. The clients live in this process
and do what the official client does: GET the page, open the WebSocket with
the session cookie, ``phx_join``, then push events; a form is submitted as
the client serialises it.

1. diff size: client B shows ``/contacts?per_page=100`` (the first 100 of the
   300 contacts, by name). Client A, on the edit form of the 50th of them,
   saves it with a new company: the bytes of the diff B is pushed when one
   shown row changes. Then client A', on ``/contacts/new``, saves contacts
   whose names sort first: a row inserted at the top (the last one leaves
   the page). Beside them, the full first render: the HTML page, and the
   join reply (the rendered tree, statics included). Each diff is merged
   into B's tree as the official client does (``live.testing.rendered``) and
   its HTML checked: the edited row shows the new company, the new contact
   is the first row. No figure comes from a diff that did not do its job.
2. save -> diff latency: from A's ``save`` leaving this process to B's diff
   arriving, with A and B on one process (``memory://``), then on two
   processes sharing the one database and a Redis. A save's reply is a
   ``live_redirect`` to the contact's page; A does not follow it (a browser
   would) but saves again, so every sample is the same save on a warm view.
3. list render time: ``GET /contacts?per_page=100``, over loopback to one
   server process (HTTP/1.1 keep-alive, as a browser), then in this process
   through httpx's ASGITransport (the app's middleware, session, query and
   template; no server, no network).

Redis: by default a ``redis-server`` of the script's own on a free port, so
no other app on a shared Redis hears the bench's broadcasts and presences
(the app's channel names are fixed) or disturbs its figures; without a
``redis-server`` to start, the one at 127.0.0.1:6379. With ``--redis-url``,
an existing Redis is used; whatever the bench's processes left there
(presence keys, named by their node) is removed. Processes and the
temporary directory are removed at the end, whatever happens.

Latencies are measured in this process, so they include the clients' own
work; the CPU columns say how busy this process, the servers and the rest of
the machine were while timing (other work on a 2-core machine shows in the
figures). The exit code is 0 whatever the figures say: this is a report, not a
test; it is 1 only when the app cannot be baked, migrated or seeded.

Usage: ``python bench/bench_contacts.py [--samples N] [--requests N] [--redis-url URL] [--json]``
(``make bench-contacts BENCH_ARGS=...``); the defaults run in well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import html
import importlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

TEMPLATE = Path(__file__).resolve().parent.parent
PACKAGE = "my_live_app"  # the package of a bake with cookiecutter.json's defaults
SECRET_KEY = "bench-contacts: a throwaway key for a local benchmark"
SEED_COUNT = 300
PER_PAGE = 100
LIST_PATH = f"/contacts?per_page={PER_PAGE}"
EDITED_ROW = 50  # A edits the contact on this row of B's page (1-based)
WARMUP_SAVES = 10
WARMUP_REQUESTS = 20
SETUP_TIMEOUT = 120.0  # seconds for the bake, the migration and the seed, each
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0
TIMEOUT = 10.0  # seconds for any one step of a client
HEARTBEAT = 30.0  # seconds, as phoenix.js
PRESENCE_KEYS = "live:presence:"  # the runtime's Redis prefix (RedisPubSub's default) + presence
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """Something the bench needs did not work; the message says what, with the log's end."""


# -- the baked app ---------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    """The baked project, its database, and the environment its commands run with."""

    root: Path
    database_url: str

    def env(self, pubsub_url: str = "memory://", port: int = 0) -> dict[str, str]:
        """The settings as environment variables (they win over the bake's ``.env``)."""
        return {
            **os.environ,
            "PYTHONPATH": str(self.root / "src"),
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": self.database_url,
            "DEBUG": "false",  # the bake's .env says true: SQL echo and template reloads
            "HOST": "127.0.0.1",
            "PORT": str(port or 8000),
            "PUBSUB_URL": pubsub_url,
            "ALLOWED_ORIGINS": "",
        }

    def run(self, *arguments: str) -> None:
        """``python arguments…`` in the project, bounded; ``BenchError`` (its output) on failure."""
        try:
            done = subprocess.run(
                [sys.executable, *arguments],
                cwd=self.root,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=SETUP_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"{' '.join(arguments)} took over {SETUP_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise BenchError(f"{' '.join(arguments)} failed: {(done.stderr or done.stdout)[-800:]}")


def bake(directory: Path) -> App:
    """Bake the template with its defaults, migrate a new SQLite database, seed it."""
    from cookiecutter.main import cookiecutter

    # The user's cookiecutter config is ignored, and its replay file goes to the temp dir.
    config = {"replay_dir": str(directory / "replay"), "cookiecutters_dir": str(directory)}
    root = Path(
        cookiecutter(
            str(TEMPLATE), no_input=True, output_dir=str(directory / "bake"), default_config=config
        )
    )
    if not (root / "src" / PACKAGE).is_dir():
        raise BenchError(f"the bake has no src/{PACKAGE}: {root}")
    sys.path.insert(0, str(root / "src"))  # its client-side merge, and section 3's app
    app = App(root, f"sqlite+aiosqlite:///{directory / 'contacts.db'}")
    app.run("-m", "alembic", "upgrade", "head")
    app.run("-m", f"{PACKAGE}.seed", "--count", str(SEED_COUNT))
    return app


# -- processes -------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, however it dies (Linux's PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A child process on a free port of 127.0.0.1, with its output in a temporary file."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.process: asyncio.subprocess.Process | None = None
        self._log = tempfile.TemporaryFile("w+")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def spawn(self, command: list[str], cwd: Path | None, env: dict[str, str]) -> None:
        self.process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )

    async def wait_ready(self, ready: t.Callable[[], t.Awaitable[bool]]) -> None:
        """Until ``ready()`` says so; ``BenchError`` if the process exits or takes too long."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process is not None
            if self.process.returncode is not None:
                raise BenchError(f"{self.name} exited at start-up: {self.log_tail()}")
            try:
                if await ready():
                    return
            except (OSError, RedisError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} was not ready within {START_TIMEOUT:.0f} s")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM (the app closes its views and presences), then SIGKILL if it lingers."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_lines(self) -> list[str]:
        self._log.seek(0)
        return [line.rstrip() for line in self._log if line.strip()]

    def log_tail(self) -> str:
        return " | ".join(self.log_lines()[-3:]) or "(no output)"


class Server(Process):
    """``python -m my_live_app`` with ``pubsub_url``: the app as ``make run`` serves it."""

    def __init__(self, name: str, app: App, pubsub_url: str) -> None:
        super().__init__(name)
        self.app = app
        self.pubsub_url = pubsub_url

    async def start(self) -> None:
        env = self.app.env(self.pubsub_url, self.port)
        await self.spawn([sys.executable, "-m", PACKAGE], self.app.root, env)

        async def answers() -> bool:
            return (await http_get(self.port, "/static/app.css"))[0] == 200

        await self.wait_ready(answers)

    def warnings(self) -> list[str]:
        """What the server logged above uvicorn's info lines (start-up, access): the first."""
        lines = [line for line in self.log_lines() if not line.startswith("INFO:")]
        return [line[:200] for line in lines[:5]]


class RedisServer(Process):
    """A ``redis-server`` of the bench's own, in memory only, for the two-process run."""

    async def start(self, directory: Path) -> None:
        command = [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(directory), "--loglevel", "warning",
        ]  # fmt: skip
        await self.spawn(command, None, dict(os.environ))

        async def pings() -> bool:
            async with Redis.from_url(self.url, socket_timeout=1.0) as redis:
                return bool(await redis.ping())

        await self.wait_ready(pings)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@asynccontextmanager
async def running(*processes: Server) -> AsyncIterator[None]:
    """Start ``processes``, and stop every one of them whatever happens."""
    try:
        await asyncio.gather(*(process.start() for process in processes))
        yield
    finally:
        await asyncio.gather(*(process.stop() for process in processes))


# -- clients ---------------------------------------------------------------------------------

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CONTAINER = re.compile(r'<div id="([^"]+)" data-phx-main data-phx-session="([^"]+)"')
ROW_IDS = re.compile(r'<tr id="contact-(\d+)"')
FIELD = re.compile(r'<input id="contact-(\w+)" type="[^"]*" name="\w+" value="([^"]*)"')
SELECTED_STATUS = re.compile(r'<option value="(\w+)" selected>')
VIP_CHECKED = re.compile(r'<input id="contact-vip"[^>]*\bchecked')


async def http_get(port: int, path: str) -> tuple[int, str, str]:
    """A bare HTTP/1.1 GET: status, head and body."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), TIMEOUT)
    try:
        headers = f"Host: 127.0.0.1:{port}\r\nConnection: close\r\n"
        writer.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
        response = (await asyncio.wait_for(reader.read(), TIMEOUT)).decode()
    finally:
        writer.close()
    head, _, body = response.partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), head, body


class Received(t.NamedTuple):
    """A frame the server sent (a reply or a ``diff``): when it arrived, its bytes, its payload."""

    arrived: float
    frame_bytes: int
    payload: dict[str, t.Any]

    @property
    def payload_bytes(self) -> int:
        """The payload alone (the diff), encoded as the server encodes it."""
        return len(json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass
class Tab:
    """One browser tab on a live page: its socket, the replies it awaits, the diffs it got."""

    port: int
    path: str
    page_html: str = ""  # the HTTP render
    join_frame_bytes: int = 0
    rendered: dict[str, t.Any] = field(default_factory=dict)  # the join reply's tree
    ws: ClientConnection | None = None
    channel: str = ""
    join_ref: str = ""
    diffs: asyncio.Queue[Received] = field(default_factory=asyncio.Queue)
    problems: Counter[str] = field(default_factory=Counter)
    _pending: dict[str, asyncio.Future[Received]] = field(default_factory=dict)
    _refs: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def open(self) -> None:
        """GET the page, connect its socket and join its view, as the browser does."""
        status, head, body = await http_get(self.port, self.path)
        csrf, container = CSRF.search(body), CONTAINER.search(body)
        if status != 200 or csrf is None or container is None:
            raise BenchError(f"GET {self.path}: {status}, no csrf token or container")
        self.page_html = body
        cookie = "; ".join(re.findall(r"^set-cookie: ([^;]+)", head, re.IGNORECASE | re.MULTILINE))
        token = html.unescape(csrf.group(1))
        origin = f"http://127.0.0.1:{self.port}"
        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/live/websocket?"
            + urlencode({"_csrf_token": token, "_mounts": 0, "vsn": "2.0.0"}),
            additional_headers={"Cookie": cookie},
            origin=Origin(origin),
            compression=None,  # the app turns permessage-deflate off: sizes are as sent
            open_timeout=TIMEOUT,
            ping_interval=None,  # browsers do not ping; phoenix.js sends heartbeats instead
            max_queue=None,
            max_size=None,
        )
        self._tasks.append(asyncio.create_task(self._read()))
        self.channel = f"lv:{container.group(1)}"
        ref = self.join_ref = self._next_ref()
        payload = {
            "url": origin + self.path,
            "params": {"_csrf_token": token, "_mounts": 0, "_mount_attempts": 0},
            "session": html.unescape(container.group(2)),
            "static": None,
            "sticky": False,
        }
        joined = await self._call(ref, "phx_join", payload)
        reply = joined.payload
        self.join_frame_bytes = joined.frame_bytes
        if reply.get("status") != "ok":
            raise BenchError(f"join of {self.path} refused: {str(reply)[:200]}")
        self.rendered = reply["response"]["rendered"]
        self._tasks.append(asyncio.create_task(self._heartbeats()))

    def _next_ref(self) -> str:
        return str(next(self._refs))

    async def _send(
        self, join_ref: str | None, ref: str, topic: str, event: str, payload: t.Any
    ) -> None:
        assert self.ws is not None
        frame = [join_ref, ref, topic, event, payload]
        await self.ws.send(json.dumps(frame, separators=(",", ":")))

    async def _call(self, ref: str, event: str, payload: t.Any) -> Received:
        """Push ``event`` on the view's channel as ``ref``; its reply."""
        reply = self._expect(ref)
        await self._send(self.join_ref, ref, self.channel, event, payload)
        return await asyncio.wait_for(reply, TIMEOUT)

    def _expect(self, ref: str) -> asyncio.Future[Received]:
        reply: asyncio.Future[Received]
        reply = asyncio.get_running_loop().create_future()
        self._pending[ref] = reply
        return reply

    async def submit(self, event: str, values: dict[str, str]) -> tuple[float, Received]:
        """Submit the view's form (``phx-submit``): when it was sent, and the reply."""
        payload = {"type": "form", "event": event, "value": urlencode(values), "meta": {}}
        ref = self._next_ref()
        reply = self._expect(ref)
        sent = time.perf_counter()
        await self._send(self.join_ref, ref, self.channel, "event", payload)
        return sent, await asyncio.wait_for(reply, TIMEOUT)

    async def diff_with(self, text: str) -> Received:
        """The next diff whose JSON holds ``text``; earlier ones are counted as problems."""
        async with asyncio.timeout(TIMEOUT):
            while True:
                push = await self.diffs.get()
                if text in json.dumps(push.payload, ensure_ascii=False):
                    return push
                self.problems["a diff without the change awaited"] += 1

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self._send(None, self._next_ref(), "phoenix", "heartbeat", {})

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for text in self.ws:
                now = time.perf_counter()
                _, ref, topic, event, payload = json.loads(text)
                size = len(text.encode() if isinstance(text, str) else text)
                if event == "phx_reply":
                    waiting = self._pending.pop(ref, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(Received(now, size, payload))
                elif event == "diff":
                    self.diffs.put_nowait(Received(now, size, payload))
                elif topic != "phoenix":
                    self.problems[f"server sent {event}"] += 1
        except Exception as exc:  # the connection dropped: say so in the report
            self.problems[f"connection lost: {type(exc).__name__}"] += 1

    def close(self) -> None:
        """Drop the connection (a closed tab), and stop this tab's tasks."""
        for task in self._tasks:
            task.cancel()
        if self.ws is not None:
            self.ws.transport.abort()


@asynccontextmanager
async def tabs(*opening: Tab) -> AsyncIterator[None]:
    """Open ``opening`` one after the other; close them all whatever happens."""
    try:
        for tab in opening:
            await tab.open()
        yield
    finally:
        for tab in opening:
            tab.close()
        await asyncio.sleep(0.2)  # let the servers see the disconnects before they are stopped


def form_values(page_html: str) -> dict[str, str]:
    """The edit form's fields as the page shows them, as the browser would submit them."""
    values = {name: html.unescape(value) for name, value in FIELD.findall(page_html)}
    status = SELECTED_STATUS.search(page_html)
    if "email" not in values or status is None:
        raise BenchError("the edit form has no email field or no selected status")
    values["status"] = status.group(1)
    values["vip"] = "true" if VIP_CHECKED.search(page_html) else "false"
    return values


class ListPage:
    """B's page as the official client holds it: the join's tree with each diff merged."""

    def __init__(self, tab: Tab) -> None:
        rendered_module = importlib.import_module(f"{PACKAGE}.live.testing.rendered")
        self._rendered = rendered_module.Rendered
        self.page = self._rendered(json.loads(json.dumps(tab.rendered)))

    def merge(self, push: Received) -> str:
        """Merge a pushed diff; the page's HTML after it."""
        diff = json.loads(json.dumps(push.payload))
        self.page.merge(self._rendered.extract(diff).diff)
        return str(self.page.html)

    def row_ids(self) -> list[str]:
        return ROW_IDS.findall(self.page.html)


# -- figures ---------------------------------------------------------------------------------


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


def sizes(values: list[int]) -> dict[str, t.Any]:
    return {
        "samples": len(values),
        "median": percentile([float(value) for value in values], 0.5),
        "min": min(values, default=0),
        "max": max(values, default=0),
    }


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used, from ``/proc/stat``."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle, iowait
    return (sum(ticks[:8]) - idle) / CLOCK_TICKS


class CpuMeter:
    """CPU used over a stretch, in % of one core: this process, the servers, everything else.

    Figures taken while the rest of the machine is busy say less about the app.
    """

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self._start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return (
            time.perf_counter(),
            usage.ru_utime + usage.ru_stime,
            sum(process_cpu_seconds(server.pid) for server in self.servers),
            machine_busy_seconds(),
        )

    def percent(self) -> dict[str, float]:
        wall, bench, servers, machine = (
            end - start for start, end in zip(self._start, self._read(), strict=True)
        )
        return {
            "bench_cpu_percent": 100 * bench / wall,
            "server_cpu_percent": 100 * servers / wall,
            "other_cpu_percent": max(0.0, 100 * (machine - bench - servers) / wall),
        }


# -- 1 and 2. diffs and save -> diff latency -------------------------------------------------


async def edit_rounds(
    servers: list[Server], editor: Tab, lister: Tab, page: ListPage | None, samples: int
) -> dict[str, t.Any]:
    """A saves its contact with a new company, ``samples`` times after a warm-up; B's diffs.

    The company keeps the row in place: each save changes one shown row.
    """
    values = form_values(editor.page_html)
    row = re.compile(rf'<tr id="contact-{editor.path.split("/")[2]}">.*?</tr>', re.DOTALL)
    timings: list[float] = []
    replies: list[float] = []
    frames: list[int] = []
    payloads: list[int] = []
    refused = 0
    cpu = CpuMeter(servers)
    for number in range(-WARMUP_SAVES, samples):
        if number == 0:
            cpu = CpuMeter(servers)
        company = f"Bench {len(servers)} {number + WARMUP_SAVES:04d}"  # new in each setup
        sent, reply = await editor.submit("save", {**values, "company": company})
        if "live_redirect" not in reply.payload.get("response", {}):
            refused += 1
            continue
        push = await lister.diff_with(company)
        if page is not None:
            shown = row.search(page.merge(push))
            if shown is None or f'<td class="col-company">{company}</td>' not in shown.group():
                raise BenchError(f"after the diff, {editor.path}'s row does not show {company!r}")
        if number >= 0:
            timings.append(push.arrived - sent)
            replies.append(reply.arrived - sent)
            frames.append(push.frame_bytes)
            payloads.append(push.payload_bytes)
    return {
        **latency(timings),
        **cpu.percent(),
        "reply": latency(replies),
        "frame_bytes": sizes(frames),
        "diff_bytes": sizes(payloads),
        "refused": refused,
    }


async def insert_rounds(creator: Tab, lister: Tab, page: ListPage, count: int) -> dict[str, t.Any]:
    """A' saves ``count`` new contacts, each named to sort before all others: B's diffs."""
    frames: list[int] = []
    payloads: list[int] = []
    for number in range(count, 0, -1):
        name = f"Aaa {number:03d} Bench"  # before every seeded name, and before the last insert
        values = {
            "name": name, "email": f"bench-{number}@example.com", "company": "Bench Inserts",
            "status": "lead", "score": "50", "since": "", "vip": "false",
        }  # fmt: skip
        _, reply = await creator.submit("save", values)
        redirect = reply.payload.get("response", {}).get("live_redirect")
        if redirect is None:
            raise BenchError(f"saving {name!r} was refused: {str(reply)[:300]}")
        push = await lister.diff_with(name)
        page.merge(push)
        new_id = redirect["to"].rstrip("/").rsplit("/", 1)[-1]
        ids = page.row_ids()
        if not ids or ids[0] != new_id or len(ids) != PER_PAGE:
            raise BenchError(f"after the diff, {name} (id {new_id}) is not the first of {len(ids)}")
        frames.append(push.frame_bytes)
        payloads.append(push.payload_bytes)
    return {"frame_bytes": sizes(frames), "diff_bytes": sizes(payloads)}


async def one_process(app: App, samples: int, inserts: int) -> dict[str, t.Any]:
    """B on the list and A on an edit form of one server (``memory://``): sizes and latency."""
    server = Server("A", app, "memory://")
    async with running(server):
        lister = Tab(server.port, LIST_PATH)
        async with tabs(lister):
            ids = ROW_IDS.findall(lister.page_html)
            if len(ids) != PER_PAGE:
                raise BenchError(f"GET {LIST_PATH} shows {len(ids)} rows, not {PER_PAGE}")
            page = ListPage(lister)
            first = {
                "html_bytes": len(lister.page_html.encode()),
                "join_frame_bytes": lister.join_frame_bytes,
                "rendered_bytes": len(
                    json.dumps(lister.rendered, separators=(",", ":"), ensure_ascii=False).encode()
                ),
            }
            editor = Tab(server.port, f"/contacts/{ids[EDITED_ROW - 1]}/edit")
            creator = Tab(server.port, "/contacts/new")
            async with tabs(editor, creator):
                edits = await edit_rounds([server], editor, lister, page, samples)
                inserted = await insert_rounds(creator, lister, page, inserts)
            problems = lister.problems + editor.problems + creator.problems
    return {
        "first_render": first,
        "edit": edits,
        "insert": inserted,
        "problems": dict(problems),
        "server_log": server.warnings(),
    }


async def two_processes(app: App, samples: int, redis_url: str) -> dict[str, t.Any]:
    """A on process A, B on process B, one Redis, one database: save -> diff latency."""
    servers = [Server("A", app, redis_url), Server("B", app, redis_url)]
    async with Redis.from_url(redis_url, socket_timeout=TIMEOUT) as redis:
        nodes: set[str] = set()
        try:
            async with running(*servers):
                nodes = await redis_nodes(redis, servers)
                lister = Tab(servers[1].port, LIST_PATH)
                async with tabs(lister):
                    ids = ROW_IDS.findall(lister.page_html)
                    editor = Tab(servers[0].port, f"/contacts/{ids[EDITED_ROW - 1]}/edit")
                    async with tabs(editor):
                        edits = await edit_rounds(servers, editor, lister, None, samples)
                    problems = lister.problems + editor.problems
        finally:
            left = await remove_presences(redis, nodes)
    return {
        "edit": edits,
        "problems": dict(problems),
        "server_log": {server.name: server.warnings() for server in servers},
        "redis_nodes": len(nodes),
        "redis_keys_left": left,
    }


def local_ports(pid: int) -> set[int]:
    """The local TCP ports of ``pid``'s sockets (``/proc``): which Redis clients are its."""
    inodes = set()
    for descriptor in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def redis_nodes(redis: Redis, servers: list[Server]) -> set[str]:
    """The runtime's node names of ``servers`` (their connections are ``live.<node>.…``)."""
    ports = set().union(*(local_ports(server.pid) for server in servers))
    nodes = set()
    for client in await redis.client_list():
        name, port = client.get("name", ""), int(client["addr"].rsplit(":", 1)[1])
        if name.startswith("live.") and port in ports:
            nodes.add(name.split(".")[1])
    return nodes


async def remove_presences(redis: Redis, nodes: set[str]) -> int:
    """Remove what ``nodes`` left in Redis (their presences); how many keys there were.

    A server stopped by SIGTERM removes its own: this is for one that was killed.
    """
    left = 0
    for node in nodes:
        refs, alive = f"{PRESENCE_KEYS}refs:{node}", f"{PRESENCE_KEYS}alive:{node}"
        left += int(await redis.exists(refs, alive))
        for ref, topic in (await redis.hgetall(refs)).items():
            await redis.hdel(f"{PRESENCE_KEYS}topic:{topic.decode()}", ref)
        await redis.delete(refs, alive)
        await redis.srem(f"{PRESENCE_KEYS}nodes", node)
    return left


# -- 3. list render time ---------------------------------------------------------------------


async def time_gets(
    client: httpx.AsyncClient, count: int, servers: list[Server]
) -> dict[str, t.Any]:
    """``count`` GETs of the list after a warm-up, one at a time; each must show every row."""
    timings: list[float] = []
    size = 0
    cpu = CpuMeter(servers)
    for number in range(-WARMUP_REQUESTS, count):
        if number == 0:
            cpu = CpuMeter(servers)
        started = time.perf_counter()
        response = await client.get(LIST_PATH)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"GET {LIST_PATH}: {response.status_code}")
        if number < 0:
            size = len(response.content)
            if len(ROW_IDS.findall(response.text)) != PER_PAGE:
                raise BenchError(f"GET {LIST_PATH} does not show {PER_PAGE} rows")
        else:
            timings.append(elapsed)
    return {**latency(timings), **cpu.percent(), "bytes": size}


async def render_times(app: App, requests: int) -> dict[str, t.Any]:
    """Over loopback to one server process, then in this process through ASGITransport."""
    results: dict[str, t.Any] = {}
    server = Server("A", app, "memory://")
    async with running(server):
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{server.port}", timeout=TIMEOUT
        ) as client:
            results["loopback, uvicorn process"] = await time_gets(client, requests, [server])
    results["in-process, ASGITransport"] = await render_in_process(app, requests)
    return results


async def render_in_process(app: App, requests: int) -> dict[str, t.Any]:
    """The baked app imported here (its ``create_app``), inside its own lifespan.

    With the garbage collector's thresholds ``python -m my_live_app`` sets.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(*importlib.import_module(f"{PACKAGE}.__main__").GC_THRESHOLDS)
    try:
        return await _render_in_process(app, requests)
    finally:
        gc.set_threshold(*thresholds)


async def _render_in_process(app: App, requests: int) -> dict[str, t.Any]:
    create_app = importlib.import_module(f"{PACKAGE}.app").create_app
    settings_class = importlib.import_module(f"{PACKAGE}.settings").Settings
    served = importlib.import_module(f"{PACKAGE}.live.testing.asgi").served
    settings = settings_class(secret_key=SECRET_KEY, database_url=app.database_url)
    async with served(create_app(settings), lifespan=True) as asgi:
        transport = httpx.ASGITransport(app=asgi)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8000", timeout=TIMEOUT
        ) as client:
            return await time_gets(client, requests, [])


# -- report ----------------------------------------------------------------------------------

Row = list[tuple[str, int]]  # each cell's text and width; the first is left-aligned


def columns(cells: Row) -> str:
    (first, width), *rest = cells
    return "   " + first.ljust(width) + "".join(text.rjust(width) for text, width in rest)


def ms(value: float) -> str:
    return f"{value:,.1f}"


def cpu(result: dict[str, t.Any]) -> list[str]:
    """The servers', this process's and the rest of the machine's CPU, in % of one core."""
    return [f"{result[f'{who}_cpu_percent']:.0f}%" for who in ("server", "bench", "other")]


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable tables."""

    def line(text: str = "") -> None:
        print(text, file=out)

    def table(header: Row, rows: list[list[str]]) -> None:
        line(columns(header))
        widths = [width for _, width in header]
        for texts in rows:
            line(columns(list(zip(texts, widths, strict=True))))

    def problems(result: dict[str, t.Any]) -> None:
        for problem, count in result.get("problems", {}).items():
            line(f"      ! {count} x {problem}")
        logs = result.get("server_log", [])
        for name, log in logs.items() if isinstance(logs, dict) else [("", logs)]:
            for text in log:
                line(f"      ! server {name} logged: {text}")

    versions = data["versions"]
    line(
        f"Contacts benchmark ({data['seconds']:.0f} s): Python {versions['python']}, uvicorn "
        f"{versions['uvicorn']}, SQLAlchemy {versions['sqlalchemy']}, redis-py "
        f"{versions['redis']}, {versions['cpus']} CPUs; load average {data['load_average']}"
    )
    line(
        f"The baked app, {SEED_COUNT} seeded contacts in SQLite; B on {LIST_PATH} "
        f"({PER_PAGE} rows), A editing row {EDITED_ROW}"
    )

    one = data["one_process"]
    line()
    line("1. bytes pushed to the list page (UTF-8 JSON as sent; the app sends no compression)")
    if "skipped" in one:
        line(f"   skipped: {one['skipped']}")
    else:
        first = one["first_render"]
        header: Row = [("what", 34), ("samples", 8), ("diff", 9), ("frame", 9), ("min", 8)]
        header += [("max", 8)]
        rows = [
            ["full first render: HTML page", "1", f"{first['html_bytes']:,}", "-", "-", "-"],
            [
                "full first render: join reply",
                "1",
                f"{first['rendered_bytes']:,}",
                f"{first['join_frame_bytes']:,}",
                "-",
                "-",
            ],
        ]
        changes = (("one row changed (A saves)", "edit"), ("row inserted at the top", "insert"))
        for name, key in changes:
            diff, frame = one[key]["diff_bytes"], one[key]["frame_bytes"]
            rows.append(
                [name, str(diff["samples"]), f"{diff['median']:,.0f}", f"{frame['median']:,.0f}"]
                + [f"{diff['min']:,}", f"{diff['max']:,}"]
            )
        table(header, rows)
        line("   diff: the pushed diff (or the join's rendered tree); frame: the whole message;")
        line("   median over samples; min/max of the diff. Each diff was merged, its HTML checked.")

    line()
    line("2. save -> diff: A's save event sent, to B's diff on the list arriving")
    header = [("setup", 26), ("samples", 8), ("p50 ms", 8), ("p99 ms", 8), ("max ms", 8)]
    header += [("servers", 8), ("bench", 7), ("other", 7)]
    line(columns(header) + "   A's reply p50 / p99 ms")
    setups = (("memory, 1 process", one), ("redis, 2 processes", data["two_processes"]))
    for setup, result in setups:
        if "skipped" in result:
            line(f"   {setup}: skipped: {result['skipped']}")
            continue
        edit = result["edit"]
        texts = [setup, str(edit["samples"])]
        texts += [ms(edit[key]) for key in ("p50_ms", "p99_ms", "max_ms")] + cpu(edit)
        reply = f"{ms(edit['reply']['p50_ms'])} / {ms(edit['reply']['p99_ms'])}"
        line(columns(list(zip(texts, [w for _, w in header], strict=True))) + f"   {reply}")
        if edit["refused"]:
            line(f"      ! {edit['refused']} saves refused")
        problems(result)
    line("   servers, bench, other: CPU in % of one core while timing (other: the rest of the")
    line("   machine); A's reply: the save's own round trip (commit and broadcast included)")
    two = data["two_processes"]
    if "skipped" not in two:
        line(
            f"   Redis: {data['redis']}; the servers' nodes there: {two['redis_nodes']},\n"
            f"   presence keys they left behind: {two['redis_keys_left']} (removed)"
        )

    line()
    line(f"3. GET {LIST_PATH}: {PER_PAGE} rows, one request at a time")
    render = data["render"]
    if "skipped" in render:
        line(f"   skipped: {render['skipped']}")
    else:
        header = [("where", 26), ("requests", 9), ("p50 ms", 8), ("p99 ms", 8), ("max ms", 8)]
        header += [("bytes", 8), ("servers", 8), ("bench", 7), ("other", 7)]
        rows = [
            [where, str(result["samples"])]
            + [ms(result[key]) for key in ("p50_ms", "p99_ms", "max_ms")]
            + [f"{result['bytes']:,}", *cpu(result)]
            for where, result in render.items()
        ]
        table(header, rows)
        line(f"   loopback: HTTP/1.1 keep-alive to `python -m {PACKAGE}` (h11, its access log on);")
        line("   in-process: the same app in this process through httpx.ASGITransport, no socket.")


# -- main ------------------------------------------------------------------------------------


def finite(value: t.Any) -> t.Any:
    """``value`` with NaN (a figure with no samples) as ``None``, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


async def section(work: t.Awaitable[dict[str, t.Any]]) -> dict[str, t.Any]:
    """A section's figures, or why it could not run."""
    try:
        return await work
    except (BenchError, OSError, TimeoutError, RedisError) as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"[:500]}


async def run(app: App, args: argparse.Namespace, directory: Path) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {}
    data["one_process"] = await section(one_process(app, args.samples, args.inserts))
    private = None
    redis_url = args.redis_url
    try:
        if not redis_url:
            if shutil.which("redis-server") is None:
                redis_url = "redis://127.0.0.1:6379/0"
                data["redis"] = f"{redis_url} (no redis-server to start one of its own)"
            else:
                private = RedisServer("redis")
                await private.start(directory)
                redis_url = private.url
                data["redis"] = "a redis-server of its own, in memory"
        else:
            data["redis"] = redis_url
        data["two_processes"] = await section(two_processes(app, args.samples, redis_url))
    except BenchError as exc:
        data["two_processes"] = {"skipped": str(exc)}
    finally:
        if private is not None:
            await private.stop()
    data["render"] = await section(render_times(app, args.requests))
    return data


def main(argv: list[str] | None = None) -> int:
    """Bake, migrate and seed; run the sections; print the report; remove everything."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=200, help="saves timed per setup")
    parser.add_argument("--inserts", type=int, default=5, help="contacts inserted at the top")
    parser.add_argument("--requests", type=int, default=300, help="list GETs timed per setup")
    parser.add_argument(
        "--redis-url", default="", help="an existing Redis (default: start one of its own)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print JSON results on stdout, the table on stderr"
    )
    args = parser.parse_args(argv)
    if not (0 < args.inserts < 1000 and args.samples > 0 and args.requests > 0):
        parser.error("--samples and --requests must be above 0, --inserts from 1 to 999")
    started = time.perf_counter()
    load_average = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as temporary:
        directory = Path(temporary)
        try:
            app = bake(directory)
        except BenchError as exc:
            print(f"bench_contacts: {exc}", file=sys.stderr)
            return 1
        data = {
            "versions": {
                "python": platform.python_version(),
                "uvicorn": version("uvicorn"),
                "sqlalchemy": version("sqlalchemy"),
                "redis": version("redis"),
                "cpus": os.cpu_count(),
            },
            "load_average": load_average,
            "seeded": SEED_COUNT,
            "per_page": PER_PAGE,
            **asyncio.run(run(app, args, directory)),
        }
    data["seconds"] = time.perf_counter() - started
    report(data, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(finite(data), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
