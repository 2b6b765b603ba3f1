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
import gc
import html
import importlib
import itertools
import json
import os
import re
import shutil
import sys
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
from websockets.asyncio.client import ClientConnection

from baking import PACKAGE, App, AppServer, bake
from figures import CpuMeter, latency, percentile
from harness import BenchError, Process, running, section
from results import Row, columns, command_line, ms, run_bench
from wire import HEARTBEAT, TIMEOUT, encode, hang_up, open_live

SECRET_KEY = "bench-contacts: a throwaway key for a local benchmark"
SEED_COUNT = 300
PER_PAGE = 100
LIST_PATH = f"/contacts?per_page={PER_PAGE}"
EDITED_ROW = 50  # A edits the contact on this row of B's page (1-based)
WARMUP_SAVES = 10
WARMUP_REQUESTS = 20
PRESENCE_KEYS = "live:presence:"  # the runtime's Redis prefix (RedisPubSub's default) + presence


# -- the baked app and its processes ---------------------------------------------------------


def prepare(directory: Path) -> App:
    """Bake the template with its defaults, migrate a new SQLite database, seed it."""
    app = App(bake(directory), directory / "contacts.db", SECRET_KEY)
    app.migrate_and_seed(SEED_COUNT)
    return app


class RedisServer(Process):
    """A ``redis-server`` of the bench's own, in memory only, for the two-process run."""

    def __init__(self, name: str, directory: Path) -> None:
        super().__init__(name)
        self.directory = directory

    def command(self) -> list[str]:
        return [
            "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
            "--appendonly", "no", "--dir", str(self.directory), "--loglevel", "warning",
        ]  # fmt: skip

    async def ready(self) -> bool:
        try:
            async with Redis.from_url(self.url, socket_timeout=1.0) as redis:
                return bool(await redis.ping())
        except RedisError:
            return False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


# -- clients ---------------------------------------------------------------------------------

ROW_IDS = re.compile(r'<tr id="contact-(\d+)"')
FIELD = re.compile(r'<input id="contact-(\w+)" type="[^"]*" name="\w+" value="([^"]*)"')
SELECTED_STATUS = re.compile(r'<option value="(\w+)" selected>')
VIP_CHECKED = re.compile(r'<input id="contact-vip"[^>]*\bchecked')


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
        # The app turns permessage-deflate off: sizes are as sent.
        opened = await open_live(self.port, self.path, compression=None, max_size=None)
        self.ws, self.page_html, self.channel = opened.ws, opened.page_html, opened.channel
        self._tasks.append(asyncio.create_task(self._read()))
        ref = self.join_ref = self._next_ref()
        joined = await self._call(ref, "phx_join", opened.join)
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
        await self.ws.send(encode([join_ref, ref, topic, event, payload]))

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
        hang_up(self.ws, self._tasks)


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


def sizes(values: list[int]) -> dict[str, t.Any]:
    return {
        "samples": len(values),
        "median": percentile([float(value) for value in values], 0.5),
        "min": min(values, default=0),
        "max": max(values, default=0),
    }


# -- 1 and 2. diffs and save -> diff latency -------------------------------------------------


async def edit_rounds(
    servers: list[AppServer], editor: Tab, lister: Tab, page: ListPage | None, samples: int
) -> dict[str, t.Any]:
    """A saves its contact with a new company, ``samples`` times after a warm-up; B's diffs.

    The company keeps the row in place: each save changes one shown row.
    """
    # Sent to the page itself, without the form's version: each save stands over the last.
    values = {
        name: value for name, value in form_values(editor.page_html).items() if name != "version"
    }
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
    server = AppServer("A", app, "memory://")
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
    servers = [AppServer("A", app, redis_url), AppServer("B", app, redis_url)]
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


async def redis_nodes(redis: Redis, servers: list[AppServer]) -> set[str]:
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
    client: httpx.AsyncClient, count: int, servers: list[AppServer]
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
    server = AppServer("A", app, "memory://")
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


async def run(app: App, args: argparse.Namespace, directory: Path) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {}
    data["one_process"] = await section(one_process(app, args.samples, args.inserts), RedisError)
    private = None
    redis_url = args.redis_url
    try:
        if not redis_url:
            if shutil.which("redis-server") is None:
                redis_url = "redis://127.0.0.1:6379/0"
                data["redis"] = f"{redis_url} (no redis-server to start one of its own)"
            else:
                private = RedisServer("redis", directory)
                await private.start()
                redis_url = private.url
                data["redis"] = "a redis-server of its own, in memory"
        else:
            data["redis"] = redis_url
        two = two_processes(app, args.samples, redis_url)
        data["two_processes"] = await section(two, RedisError)
    except BenchError as exc:
        data["two_processes"] = {"skipped": str(exc)}
    finally:
        if private is not None:
            await private.stop()
    data["render"] = await section(render_times(app, args.requests), RedisError)
    return data


def main(argv: list[str] | None = None) -> int:
    """Bake, migrate and seed; run the sections; print the report; remove everything."""
    parser = command_line(__doc__)
    parser.add_argument("--samples", type=int, default=200, help="saves timed per setup")
    parser.add_argument("--inserts", type=int, default=5, help="contacts inserted at the top")
    parser.add_argument("--requests", type=int, default=300, help="list GETs timed per setup")
    parser.add_argument(
        "--redis-url", default="", help="an existing Redis (default: start one of its own)"
    )
    args = parser.parse_args(argv)
    if not (0 < args.inserts < 1000 and args.samples > 0 and args.requests > 0):
        parser.error("--samples and --requests must be above 0, --inserts from 1 to 999")

    def figures(directory: Path) -> dict[str, t.Any]:
        app = prepare(directory)
        run_figures = asyncio.run(run(app, args, directory))
        return {"seeded": SEED_COUNT, "per_page": PER_PAGE, **run_figures}

    packages = ("uvicorn", "sqlalchemy", "redis")
    return run_bench("bench_contacts", figures, report, args.json, packages)


if __name__ == "__main__":
    sys.exit(main())
